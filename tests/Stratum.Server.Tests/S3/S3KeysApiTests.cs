using System.Net;
using System.Net.Http.Json;
using Stratum.Client.Contracts;

namespace Stratum.Server.Tests.S3;

/// <summary>/api/v1/store/keys on a real server: secrets shown once, keys per user, deletes audited.</summary>
public sealed class S3KeysApiTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        await _server.ApplyAsync("""
            users:
              - name: bob
            """);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task CreateListDelete_ShowTheSecretOnce_KeepUsersApart_AndAudit()
    {
        var response = await _server.Admin.PostAsJsonAsync("/api/v1/tokens", new CreateTokenRequest { User = "bob", Name = "s3" });
        await TestServer.EnsureAsync(response);
        using var bob = _server.Client((await response.Content.ReadFromJsonAsync<CreatedTokenDto>(TestServer.JsonOptions))!.Secret);

        var created = await PostKeyAsync(bob);
        var adminKey = await PostKeyAsync(_server.Admin);
        Assert.Matches("^STK[A-Z2-7]{17}$", created.AccessKeyId);
        Assert.Equal(40, created.SecretAccessKey.Length);
        Assert.Equal("bob", created.User);

        var bobsText = await bob.GetStringAsync("/api/v1/store/keys");
        var adminsText = await _server.Admin.GetStringAsync("/api/v1/store/keys");
        Assert.Contains(created.AccessKeyId, bobsText);
        Assert.DoesNotContain(adminKey.AccessKeyId, bobsText);
        Assert.DoesNotContain(created.SecretAccessKey, bobsText);
        Assert.Contains(created.AccessKeyId, adminsText);
        Assert.Contains(adminKey.AccessKeyId, adminsText);

        // Someone else's key is not found; garbage is a validation error; the owner deletes it once.
        Assert.Equal(HttpStatusCode.NotFound, (await bob.DeleteAsync($"/api/v1/store/keys/{adminKey.AccessKeyId}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await bob.DeleteAsync("/api/v1/store/keys/..%2Fetc")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await bob.DeleteAsync($"/api/v1/store/keys/{created.AccessKeyId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.DeleteAsync($"/api/v1/store/keys/{created.AccessKeyId}")).StatusCode);
        Assert.DoesNotContain(created.AccessKeyId, await bob.GetStringAsync("/api/v1/store/keys"));

        var audit = await _server.Admin.GetStringAsync("/api/v1/audit");
        Assert.Contains($"s3key/{created.AccessKeyId}", audit);
        Assert.Contains("s3key.create", audit);
        Assert.Contains("s3key.delete", audit);
        Assert.DoesNotContain(created.SecretAccessKey, audit);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _server.Client(null).GetAsync("/api/v1/store/keys")).StatusCode);
    }

    private static async Task<CreatedS3KeyDto> PostKeyAsync(HttpClient client)
    {
        var response = await client.PostAsync("/api/v1/store/keys", null);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<CreatedS3KeyDto>(TestServer.JsonOptions))!;
    }
}
