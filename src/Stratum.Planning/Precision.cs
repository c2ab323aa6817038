namespace Stratum.Planning;

/// <summary>The number format of the matrix multiplications (and, for serving, of weights and KV cache).</summary>
public enum Precision
{
    Bf16,
    Fp8,
}

public static class Precisions
{
    public static bool TryParse(string? text, out Precision precision)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "bf16" or "fp16":
                precision = Precision.Bf16;
                return true;
            case "fp8":
                precision = Precision.Fp8;
                return true;
            default:
                precision = Precision.Bf16;
                return false;
        }
    }

    public static string Name(this Precision precision) => precision == Precision.Fp8 ? "fp8" : "bf16";

    /// <summary>Bytes per stored weight or KV element.</summary>
    public static double Bytes(this Precision precision) => precision == Precision.Fp8 ? 1 : 2;
}
