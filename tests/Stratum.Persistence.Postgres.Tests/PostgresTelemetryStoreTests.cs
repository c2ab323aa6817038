using Stratum.Persistence.Tests;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>The telemetry conformance suite on PostgreSQL, each test on a database of its own.</summary>
[RequiresPostgres]
public sealed class PostgresTelemetryStoreTests : TelemetryStoreConformance
{
    protected override async Task<IMetadataStore> CreateStoreAsync() =>
        await PostgresMetadataStore.OpenAsync(PostgresTestServer.ToUrl(await PostgresTestServer.CreateDatabaseAsync())).Within();
}
