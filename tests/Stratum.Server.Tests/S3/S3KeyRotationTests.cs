using System.Net;
using System.Net.Http.Json;
using Stratum.Client.Contracts;

namespace Stratum.Server.Tests.S3;

/// <summary>
/// POST /api/v1/store/keys/{id}/rotate on a real server with its S3 endpoint: the new secret signs at
/// once, the old one stops at once (even though the endpoint had just cached it), owner or admin only, audited.
/// </summary>
public sealed class S3KeyRotationTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(declareNode: false);
        await _server.ApplyAsync("""
            users:
              - name: bob
              - name: carol
            """);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Rotate_NewSecretSignsAtOnce_OldStops_OwnerOrAdminOnly_Audited()
    {
        using var bob = await UserAsync("bob");
        using var carol = await UserAsync("carol");
        var key = await ReadAsync(await bob.PostAsync("/api/v1/store/keys", null), HttpStatusCode.Created);
        var endpoint = _server.Server.S3Address!.ToString();

        // Signed with the first secret: works, and the endpoint now holds the key in its cache.
        var before = await SignedS3Requests.SendAsync(endpoint, key.AccessKeyId, key.SecretAccessKey, HttpMethod.Get, "/");

        var rotated = await ReadAsync(await bob.PostAsync($"/api/v1/store/keys/{key.AccessKeyId}/rotate", null), HttpStatusCode.OK);
        var oldSecret = await SignedS3Requests.SendAsync(endpoint, key.AccessKeyId, key.SecretAccessKey, HttpMethod.Get, "/");
        var newSecret = await SignedS3Requests.SendAsync(endpoint, rotated.AccessKeyId, rotated.SecretAccessKey, HttpMethod.Get, "/");

        Assert.Equal(200, before.Status);
        Assert.Equal(key.AccessKeyId, rotated.AccessKeyId);
        Assert.Equal("bob", rotated.User);
        Assert.Equal(40, rotated.SecretAccessKey.Length);
        Assert.NotEqual(key.SecretAccessKey, rotated.SecretAccessKey);
        Assert.Equal((403, "SignatureDoesNotMatch"), (oldSecret.Status, oldSecret.Code));
        Assert.Equal(200, newSecret.Status);

        // Someone else's key answers like a missing one; an admin may rotate anyone's; garbage is a validation error.
        Assert.Equal(HttpStatusCode.NotFound, (await carol.PostAsync($"/api/v1/store/keys/{key.AccessKeyId}/rotate", null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await bob.PostAsync("/api/v1/store/keys/not-a-key/rotate", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _server.Client(null).PostAsync($"/api/v1/store/keys/{key.AccessKeyId}/rotate", null)).StatusCode);
        var byAdmin = await ReadAsync(await _server.Admin.PostAsync($"/api/v1/store/keys/{key.AccessKeyId}/rotate", null), HttpStatusCode.OK);
        Assert.Equal(403, (await SignedS3Requests.SendAsync(endpoint, key.AccessKeyId, rotated.SecretAccessKey, HttpMethod.Get, "/")).Status);
        Assert.Equal(200, (await SignedS3Requests.SendAsync(endpoint, key.AccessKeyId, byAdmin.SecretAccessKey, HttpMethod.Get, "/")).Status);

        // The key still lists once, under its owner; the audit names it, never a secret.
        var listed = await bob.GetFromJsonAsync<List<S3KeyDto>>("/api/v1/store/keys", TestServer.JsonOptions);
        Assert.Single(listed!, k => k.AccessKeyId == key.AccessKeyId);
        var audit = await _server.Admin.GetStringAsync("/api/v1/audit");
        Assert.Contains("s3key.rotate", audit);
        Assert.Contains($"s3key/{key.AccessKeyId}", audit);
        Assert.DoesNotContain(rotated.SecretAccessKey, audit);
        Assert.DoesNotContain(byAdmin.SecretAccessKey, audit);
    }

    private async Task<HttpClient> UserAsync(string name)
    {
        var response = await _server.Admin.PostAsJsonAsync("/api/v1/tokens", new CreateTokenRequest { User = name, Name = "s3" });
        await TestServer.EnsureAsync(response);
        return _server.Client((await response.Content.ReadFromJsonAsync<CreatedTokenDto>(TestServer.JsonOptions))!.Secret);
    }

    private static async Task<CreatedS3KeyDto> ReadAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        Assert.Equal(expected, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<CreatedS3KeyDto>(TestServer.JsonOptions))!;
    }
}
