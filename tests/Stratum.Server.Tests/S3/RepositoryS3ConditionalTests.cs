namespace Stratum.Server.Tests.S3;

/// <summary>
/// Conditional writes and reads through the endpoint over repositories: the condition is checked against
/// what the branch shows (staged changes included), under the repository's lock, so concurrent
/// create-only writers leave exactly one winner.
/// </summary>
public sealed class RepositoryS3ConditionalTests(RepositoryS3Fixture fixture) : IClassFixture<RepositoryS3Fixture>
{
    private Task<(int Status, string Code, string Body, string? ETag)> Send(HttpMethod method, string path, byte[]? body = null, params (string, string)[] headers) =>
        SignedS3Requests.SendAsync(fixture.Endpoint, fixture.Alice.AccessKeyId, fixture.Alice.SecretAccessKey, method, path, body, headers);

    [Fact]
    public async Task IfNoneMatchAndIfMatch_FollowWhatTheBranchShows_IncludingCommittedAndDeletedFiles()
    {
        var repo = await fixture.NewRepositoryAsync("cond");
        var key = $"/{repo}/main/state.json";

        var created = await Send(HttpMethod.Put, key, "v1"u8.ToArray(), ("If-None-Match", "*"));
        await fixture.CommitAsync(repo);
        var again = await Send(HttpMethod.Put, key, "v1b"u8.ToArray(), ("If-None-Match", "*"));
        var missing = await Send(HttpMethod.Put, $"/{repo}/main/other.json", "x"u8.ToArray(), ("If-Match", created.ETag!));
        var updated = await Send(HttpMethod.Put, key, "v2"u8.ToArray(), ("If-Match", created.ETag!));
        var stale = await Send(HttpMethod.Put, key, "v3"u8.ToArray(), ("If-Match", created.ETag!));
        var notModified = await Send(HttpMethod.Get, key, null, ("If-None-Match", updated.ETag!));
        var staleRead = await Send(HttpMethod.Get, key, null, ("If-Match", created.ETag!));
        var read = await Send(HttpMethod.Get, key);

        Assert.Equal(200, created.Status);
        Assert.Equal((412, "PreconditionFailed"), (again.Status, again.Code));
        Assert.Equal((404, "NoSuchKey"), (missing.Status, missing.Code));
        Assert.Equal(200, updated.Status);
        Assert.Equal(412, stale.Status);
        Assert.Equal((304, string.Empty), (notModified.Status, notModified.Body));
        Assert.Equal(412, staleRead.Status);
        Assert.Equal("v2", read.Body);

        // A committed file deleted on the branch is gone for If-None-Match: the key may be created again.
        Assert.Equal(204, (await Send(HttpMethod.Delete, key)).Status);
        Assert.Equal(200, (await Send(HttpMethod.Put, key, "v4"u8.ToArray(), ("If-None-Match", "*"))).Status);
        Assert.Equal("v4", (await Send(HttpMethod.Get, key)).Body);
    }

    [Fact]
    public async Task ConcurrentCreateOnlyWriters_ExactlyOneWins()
    {
        var repo = await fixture.NewRepositoryAsync("race");
        var bodies = Enumerable.Range(0, 6).Select(i =>
        {
            var body = new byte[2 * 1024 * 1024];
            System.Text.Encoding.UTF8.GetBytes($"writer-{i}").CopyTo(body, 0);
            return body;
        }).ToList();

        var attempts = await Task.WhenAll(bodies.Select(body => Send(HttpMethod.Put, $"/{repo}/main/leader", body, ("If-None-Match", "*"))));
        var winner = Assert.Single(attempts, a => a.Status == 200);
        var head = await Send(HttpMethod.Head, $"/{repo}/main/leader");

        Assert.All(attempts.Where(a => a.Status != 200), a => Assert.Equal((412, "PreconditionFailed"), (a.Status, a.Code)));
        Assert.Equal(winner.ETag, head.ETag);
        Assert.Single((await fixture.Repositories.ListAsync(repo, "main")).Unwrap().Objects);
    }
}
