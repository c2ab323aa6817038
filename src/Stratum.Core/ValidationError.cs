namespace Stratum.Core;

/// <summary>One thing wrong with user input: the field (JSON path or option name) and why.</summary>
public sealed record ValidationError(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";
}
