using Stratum.Storage.Crypto;

namespace Stratum.Storage.Tests;

public sealed class StoreKeyTests : IDisposable
{
    private readonly string _root = TestStores.NewDirectory();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void LoadOrCreateFile_Missing_Creates32BytesMode0600ThenReusesIt()
    {
        var path = Path.Combine(_root, "keys", "store.key");

        var created = StoreKey.LoadOrCreateFile(path);
        var loaded = StoreKey.LoadOrCreateFile(path);

        Assert.Equal(32, new FileInfo(path).Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(created.Id, loaded.Id);
    }

    [Fact]
    public void LoadOrCreateFile_WrongLength_ClearError()
    {
        var path = Path.Combine(_root, "short.key");
        File.WriteAllBytes(path, new byte[5]);

        var error = Assert.Throws<StorageKeyException>(() => StoreKey.LoadOrCreateFile(path));

        Assert.Contains("holds 5 bytes", error.Message);
    }

    [Fact]
    public void Parse_HexAndBase64_SameKey()
    {
        var bytes = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

        var hex = StoreKey.Parse(Convert.ToHexString(bytes));
        var base64 = StoreKey.Parse(Convert.ToBase64String(bytes));

        Assert.Equal(hex.Id, base64.Id);
        Assert.NotEqual(StoreKey.Generate().Id, hex.Id);
    }

    [Theory]
    [InlineData("not a key")]
    [InlineData("AAAA")]
    public void Parse_Bad_NamesTheSource(string text)
    {
        var error = Assert.Throws<StorageKeyException>(() => StoreKey.Parse(text, StoreKey.EnvironmentVariable));

        Assert.Contains(StoreKey.EnvironmentVariable, error.Message);
    }
}
