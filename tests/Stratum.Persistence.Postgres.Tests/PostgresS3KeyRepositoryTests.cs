using Stratum.Core.Access;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>
/// PostgresS3KeyRepository against a throwaway PostgreSQL: create, find, list per user, rotate (replace the
/// sealed secret), delete; every change commits with its audit record, and a miss audits nothing.
/// </summary>
[RequiresPostgres]
public sealed class PostgresS3KeyRepositoryTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task CreateFindListRotateDelete_RoundTrip_WithTheirAuditRecords()
    {
        await using var store = await PostgresMetadataStore.OpenAsync(await PostgresTestServer.CreateDatabaseAsync());
        foreach (var name in new[] { "alice", "bob" })
        {
            await store.Access.UpsertUserAsync(new User { Name = name, CreatedAt = T0 }, null);
        }

        var aliceOld = Key("STKAAAAAAAAAAAAAAAA2", "alice", "v1.k.sealed-1", T0);
        var aliceNew = Key("STKAAAAAAAAAAAAAAAA3", "alice", "v1.k.sealed-2", T0.AddMinutes(5));
        var bobs = Key("STKBBBBBBBBBBBBBBBB2", "bob", "v1.k.sealed-3", T0.AddMinutes(1));

        // Created out of time order: listings come back oldest first.
        await store.S3Keys.CreateAsync(aliceNew, Audit("s3key.create", aliceNew.Id));
        await store.S3Keys.CreateAsync(aliceOld, Audit("s3key.create", aliceOld.Id));
        await store.S3Keys.CreateAsync(bobs, null);

        Assert.Equal(aliceOld, await store.S3Keys.GetAsync(aliceOld.Id));
        Assert.Null(await store.S3Keys.GetAsync("STKZZZZZZZZZZZZZZZZZ"));
        Assert.Equal([aliceOld.Id, aliceNew.Id], (await store.S3Keys.ListAsync("alice")).Select(k => k.Id));
        Assert.Equal([bobs.Id], (await store.S3Keys.ListAsync("bob")).Select(k => k.Id));
        Assert.Equal([aliceOld.Id, bobs.Id, aliceNew.Id], (await store.S3Keys.ListAsync(null)).Select(k => k.Id));
        Assert.Empty(await store.S3Keys.ListAsync("carol"));

        // Rotation replaces only the sealed secret: id, owner and creation time stay.
        Assert.True(await store.S3Keys.ReplaceSecretAsync(aliceOld.Id, "v1.k.rotated", Audit("s3key.rotate", aliceOld.Id)));
        Assert.Equal(aliceOld with { SealedSecret = "v1.k.rotated" }, await store.S3Keys.GetAsync(aliceOld.Id));
        Assert.Equal(bobs, await store.S3Keys.GetAsync(bobs.Id));
        Assert.False(await store.S3Keys.ReplaceSecretAsync("STKZZZZZZZZZZZZZZZZZ", "v1.k.x", Audit("s3key.rotate", "STKZZZZZZZZZZZZZZZZZ")));

        Assert.True(await store.S3Keys.DeleteAsync(aliceOld.Id, Audit("s3key.delete", aliceOld.Id)));
        Assert.False(await store.S3Keys.DeleteAsync(aliceOld.Id, Audit("s3key.delete", aliceOld.Id)));
        Assert.Null(await store.S3Keys.GetAsync(aliceOld.Id));
        Assert.Equal([aliceNew.Id], (await store.S3Keys.ListAsync("alice")).Select(k => k.Id));

        var audit = (await store.Audit.ListAsync(null, 100)).Select(a => (a.Action, a.Target)).Order().ToList();
        Assert.Equal(
            new[] { ("s3key.create", $"s3key/{aliceNew.Id}"), ("s3key.create", $"s3key/{aliceOld.Id}"), ("s3key.delete", $"s3key/{aliceOld.Id}"), ("s3key.rotate", $"s3key/{aliceOld.Id}") }.Order(),
            audit);
    }

    private static S3AccessKey Key(string id, string user, string sealedSecret, DateTimeOffset createdAt) =>
        new() { Id = id, UserName = user, SealedSecret = sealedSecret, CreatedAt = createdAt };

    private static AuditRecord Audit(string action, string id) => new(T0, "admin", action, $"s3key/{id}");
}
