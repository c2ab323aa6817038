using System.Text.Json;

namespace Stratum.EndToEnd.Tests;

/// <summary><c>stratum store keys rotate ID</c> through the real program: a new secret once, as JSON, for the same id.</summary>
public sealed class StoreKeysRotateCliTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Rotate_PrintsTheSameIdWithANewSecret_AndNamesABadId()
    {
        var created = await fixture.RunJsonAsync<JsonElement>("store", "keys", "create");
        var id = created.GetProperty("accessKeyId").GetString()!;

        var rotated = await fixture.RunJsonAsync<JsonElement>("store", "keys", "rotate", id);
        var missing = await fixture.RunAsync("store", "keys", "rotate", "STKAAAAAAAAAAAAAAAAA");
        var garbage = await fixture.RunAsync("store", "keys", "rotate", "not-a-key");
        var listed = await fixture.RunJsonAsync<JsonElement>("store", "keys", "ls");

        Assert.Equal(id, rotated.GetProperty("accessKeyId").GetString());
        var secret = rotated.GetProperty("secretAccessKey").GetString()!;
        Assert.Equal(40, secret.Length);
        Assert.NotEqual(created.GetProperty("secretAccessKey").GetString(), secret);
        Assert.True(missing.ExitCode == 3, missing.ToString());
        Assert.Contains("STKAAAAAAAAAAAAAAAAA", missing.Stderr, StringComparison.Ordinal);
        Assert.True(garbage.ExitCode != 0, garbage.ToString());
        Assert.Contains("not-a-key", garbage.Stderr, StringComparison.Ordinal);
        Assert.Single(listed.EnumerateArray(), k => k.GetProperty("accessKeyId").GetString() == id);
        Assert.DoesNotContain(secret, listed.GetRawText(), StringComparison.Ordinal);
    }
}
