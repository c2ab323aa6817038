namespace Stratum.Server.Tests;

public sealed class TelemetrySettingsTests
{
    [Theory]
    [InlineData(999)]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(1_000_000_001)]
    public void MaxRawRows_OutOfRange_IsAProblemNamingTheSetting(int rows)
    {
        var problems = new ServerOptions { DataDirectory = "/tmp/x", TelemetryMaxRawRows = rows }.Validate();

        Assert.Contains(problems, p => p.StartsWith($"telemetryMaxRawRows: {rows} must be between 1000 and 1000000000", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(ServerOptions.DefaultTelemetryMaxRawRows)]
    [InlineData(1_000_000_000)]
    public void MaxRawRows_InRange_IsAccepted(int rows) =>
        Assert.DoesNotContain(new ServerOptions { DataDirectory = "/tmp/x", TelemetryMaxRawRows = rows }.Validate(), p => p.StartsWith("telemetryMaxRawRows", StringComparison.Ordinal));
}
