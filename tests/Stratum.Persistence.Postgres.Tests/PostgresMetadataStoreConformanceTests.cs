using Stratum.Persistence.Tests;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>The conformance suite on PostgreSQL: every test opens a store on a database of its own, through a postgres:// URL.</summary>
[RequiresPostgres]
public sealed class PostgresMetadataStoreConformanceTests : MetadataStoreConformance
{
    protected override async Task<IMetadataStore> CreateStoreAsync() =>
        await PostgresMetadataStore.OpenAsync(PostgresTestServer.ToUrl(await PostgresTestServer.CreateDatabaseAsync())).Within();
}
