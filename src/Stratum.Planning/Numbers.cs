namespace Stratum.Planning;

/// <summary>Small numeric helpers shared by the planners.</summary>
internal static class Numbers
{
    public const double Giga = 1e9;

    public const double Tera = 1e12;

    public const double HoursPerYear = 8760;

    public static bool IsPositive(double value) => value > 0 && double.IsFinite(value);

    public static bool IsPositive(double? value) => value is { } v && IsPositive(v);

    /// <summary>Rounds to 4 significant figures so reports and JSON stay readable and stable.</summary>
    public static double Round(double value)
    {
        if (value == 0 || !double.IsFinite(value))
        {
            return value;
        }

        var digits = 4 - (int)Math.Floor(Math.Log10(Math.Abs(value))) - 1;
        if (digits >= 0)
        {
            return digits <= 15 ? Math.Round(value, digits) : value;
        }

        var scale = Math.Pow(10, -digits);
        return Math.Round(value / scale) * scale;
    }
}
