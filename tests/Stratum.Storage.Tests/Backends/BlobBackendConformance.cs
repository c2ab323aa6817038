using System.Text;
using Stratum.Storage.Backends;

namespace Stratum.Storage.Tests.Backends;

/// <summary>
/// The contract every <see cref="IBlobBackend"/> passes. A backend's test class inherits this and
/// implements <see cref="CreateBackendAsync"/> (one fresh, empty namespace per test); the S3 backend's
/// tests link this file (Compile Include) or reference this project.
/// </summary>
public abstract class BlobBackendConformance : IAsyncLifetime
{
    private IBlobBackend? _backend;

    protected IBlobBackend Backend => _backend ?? throw new InvalidOperationException("not initialised");

    /// <summary>A new backend over an empty place (a fresh directory, a fresh bucket or prefix).</summary>
    protected abstract Task<IBlobBackend> CreateBackendAsync();

    /// <summary>Cleans up what <see cref="CreateBackendAsync"/> made.</summary>
    protected virtual Task DestroyBackendAsync(IBlobBackend backend) => Task.CompletedTask;

    public async Task InitializeAsync() => _backend = await CreateBackendAsync();

    public async Task DisposeAsync()
    {
        if (_backend is not null)
        {
            await DestroyBackendAsync(_backend);
        }
    }

    [Fact]
    public async Task PutAsync_ThenOpenRead_ReturnsSameBytes()
    {
        var data = Bytes(3 * 1024 * 1024 + 17, seed: 1);
        await Backend.PutAsync("a/b/c.bin", new MemoryStream(data));

        Assert.Equal(data, await ReadAsync("a/b/c.bin"));
    }

    [Fact]
    public async Task PutAsync_EmptyBlob_StoredWithZeroLength()
    {
        await Backend.PutAsync("empty", new MemoryStream());

        Assert.Equal(0, (await Backend.StatAsync("empty"))!.Length);
        Assert.Empty((await ReadAsync("empty"))!);
    }

    [Fact]
    public async Task PutAsync_ExistingName_ReplacesWholeBlob()
    {
        await Backend.PutAsync("x", new MemoryStream(Bytes(1000, 1)));
        var second = Bytes(10, 2);
        await Backend.PutAsync("x", new MemoryStream(second));

        Assert.Equal(second, await ReadAsync("x"));
    }

    [Fact]
    public async Task PutAsync_SourceFailsMidway_NameKeepsOldContent()
    {
        var old = Bytes(100, 3);
        await Backend.PutAsync("keep", new MemoryStream(old));

        await Assert.ThrowsAsync<IOException>(() => Backend.PutAsync("keep", new FailingStream(Bytes(200_000, 4), failAfter: 100_000)));
        await Assert.ThrowsAsync<IOException>(() => Backend.PutAsync("never", new FailingStream(Bytes(200_000, 4), failAfter: 100_000)));

        Assert.Equal(old, await ReadAsync("keep"));
        Assert.Null(await Backend.StatAsync("never"));
    }

    [Fact]
    public async Task OpenReadAsync_Missing_ReturnsNull()
    {
        Assert.Null(await Backend.OpenReadAsync("nope/none"));
        Assert.Null(await Backend.StatAsync("nope/none"));
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(500, 100)]
    [InlineData(990, 100)]
    [InlineData(1000, 5)]
    [InlineData(2000, 5)]
    public async Task OpenReadAsync_Range_ReturnsBytesThatExist(long offset, long length)
    {
        var data = Bytes(1000, 5);
        await Backend.PutAsync("r", new MemoryStream(data));

        var stream = await Backend.OpenReadAsync("r", offset, length);
        using var copy = new MemoryStream();
        await stream!.CopyToAsync(copy);
        await stream.DisposeAsync();

        var start = (int)Math.Min(offset, data.Length);
        Assert.Equal(data[start..(int)Math.Min(data.Length, offset + length)], copy.ToArray());
    }

    [Fact]
    public async Task OpenReadAsync_OffsetWithoutLength_ReadsToEnd()
    {
        var data = Bytes(1000, 6);
        await Backend.PutAsync("r", new MemoryStream(data));

        var stream = await Backend.OpenReadAsync("r", 250);
        using var copy = new MemoryStream();
        await stream!.CopyToAsync(copy);
        await stream.DisposeAsync();

        Assert.Equal(data[250..], copy.ToArray());
    }

    [Fact]
    public async Task StatAsync_Existing_ReportsLengthAndRecentTime()
    {
        await Backend.PutAsync("s/t", new MemoryStream(Bytes(1234, 7)));

        var info = await Backend.StatAsync("s/t");

        Assert.Equal("s/t", info!.Name);
        Assert.Equal(1234, info.Length);
        Assert.True(info.LastModified > DateTimeOffset.UtcNow.AddHours(-1), $"last modified {info.LastModified}");
    }

    [Fact]
    public async Task ListAsync_Prefix_ReturnsMatchesInOrdinalOrder()
    {
        foreach (var name in new[] { "p/b", "p/a/2", "p/a/1", "pz", "q/a", "p/B" })
        {
            await Backend.PutAsync(name, new MemoryStream(Encoding.UTF8.GetBytes(name)));
        }

        Assert.Equal(["p/B", "p/a/1", "p/a/2", "p/b"], await NamesAsync("p/"));
        Assert.Equal(["p/B", "p/a/1", "p/a/2", "p/b", "pz"], await NamesAsync("p"));
        Assert.Equal(["p/a/1", "p/a/2"], await NamesAsync("p/a"));
        Assert.Empty(await NamesAsync("none/"));
        Assert.Equal(6, (await NamesAsync("")).Count);
    }

    [Fact]
    public async Task ListAsync_ReportsLengths()
    {
        await Backend.PutAsync("l/x", new MemoryStream(Bytes(42, 8)));

        var listed = new List<BlobInfo>();
        await foreach (var blob in Backend.ListAsync("l/"))
        {
            listed.Add(blob);
        }

        Assert.Equal(42, Assert.Single(listed).Length);
    }

    [Fact]
    public async Task DeleteAsync_Existing_TrueThenGone()
    {
        await Backend.PutAsync("d/x", new MemoryStream(Bytes(10, 9)));

        Assert.True(await Backend.DeleteAsync("d/x"));
        Assert.False(await Backend.DeleteAsync("d/x"));
        Assert.Null(await Backend.StatAsync("d/x"));
        Assert.Empty(await NamesAsync("d/"));
    }

    [Fact]
    public async Task PutAsync_ConcurrentSameName_OneWholeBlobWins()
    {
        var a = Bytes(500_000, 10);
        var b = Bytes(400_000, 11);

        await Task.WhenAll(Backend.PutAsync("race", new MemoryStream(a)), Backend.PutAsync("race", new MemoryStream(b)));

        var read = await ReadAsync("race");
        Assert.True(read!.SequenceEqual(a) || read!.SequenceEqual(b), "the blob is a mix of two puts");
    }

    [Theory]
    [InlineData("")]
    [InlineData("/abs")]
    [InlineData("trailing/")]
    [InlineData("a//b")]
    [InlineData("..")]
    [InlineData("a/../b")]
    [InlineData("a/./b")]
    [InlineData("tab\there")]
    [InlineData("nul\0")]
    [InlineData("del\u007f")]
    [InlineData("back\\slash")]
    public async Task AllMethods_InvalidName_ThrowArgumentException(string name)
    {
        var put = await Assert.ThrowsAsync<ArgumentException>(() => Backend.PutAsync(name, new MemoryStream([1])));
        Assert.False(string.IsNullOrWhiteSpace(put.Message));
        await Assert.ThrowsAsync<ArgumentException>(() => Backend.OpenReadAsync(name));
        await Assert.ThrowsAsync<ArgumentException>(() => Backend.StatAsync(name));
        await Assert.ThrowsAsync<ArgumentException>(() => Backend.DeleteAsync(name));
    }

    protected async Task<byte[]?> ReadAsync(string name)
    {
        var stream = await Backend.OpenReadAsync(name);
        if (stream is null)
        {
            return null;
        }

        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            return copy.ToArray();
        }
    }

    protected async Task<List<string>> NamesAsync(string prefix)
    {
        var names = new List<string>();
        await foreach (var blob in Backend.ListAsync(prefix))
        {
            names.Add(blob.Name);
        }

        return names;
    }

    protected static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A source that throws after some bytes, like a client that disconnects mid-upload.</summary>
    protected sealed class FailingStream(byte[] data, int failAfter) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => Check(base.Read(buffer, offset, Math.Min(count, 8192)));

        public override int Read(Span<byte> buffer) => Check(base.Read(buffer[..Math.Min(buffer.Length, 8192)]));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer, offset, count));

        private int Check(int read) => Position > failAfter ? throw new IOException("the client went away") : read;
    }
}
