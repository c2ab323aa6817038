using Stratum.Core.Cluster;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>A project's budget rides in its quota JSON column: it must read back from PostgreSQL as written, and go when removed.</summary>
[RequiresPostgres]
public sealed class PostgresBudgetTests
{
    [Fact]
    public async Task UpsertProject_WithBudget_ReadsItBackAndRemovesIt()
    {
        await using var store = await PostgresMetadataStore.OpenAsync(await PostgresTestServer.CreateDatabaseAsync());
        var budget = new Budget { Monthly = 5000.5m, Currency = "EUR", Thresholds = [0.5m, 0.9m, 1.2m] };
        await store.Cluster.UpsertProjectAsync(new Project { Name = "vision", Quota = new Quota { Accelerators = 8 }, Budget = budget }, null);

        var read = await store.Cluster.GetProjectAsync("vision");
        Assert.NotNull(read!.Budget);
        Assert.Equal(5000.5m, read.Budget!.Monthly);
        Assert.Equal("EUR", read.Budget.Currency);
        Assert.Equal([0.5m, 0.9m, 1.2m], read.Budget.Thresholds);
        Assert.Equal(8, read.Quota.Accelerators);

        await store.Cluster.UpsertProjectAsync(read with { Budget = null }, null);
        Assert.Null((await store.Cluster.GetProjectAsync("vision"))!.Budget);
    }
}
