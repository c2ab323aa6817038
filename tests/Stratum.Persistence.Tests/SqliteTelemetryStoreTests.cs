namespace Stratum.Persistence.Tests;

/// <summary>The telemetry conformance suite on SQLite.</summary>
public sealed class SqliteTelemetryStoreTests : TelemetryStoreConformance, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "stratum-telemetry-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    protected override async Task<IMetadataStore> CreateStoreAsync() =>
        await SqliteMetadataStore.OpenAsync(Path.Combine(_directory, "stratum.db")).Within();
}
