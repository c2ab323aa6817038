using Stratum.Storage.Backends;

namespace Stratum.Storage.Tests.Backends;

public sealed class LocalDirectoryBackendTests : BlobBackendConformance
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "stratum-blob-" + Guid.NewGuid().ToString("N"));

    protected override Task<IBlobBackend> CreateBackendAsync() => Task.FromResult<IBlobBackend>(new LocalDirectoryBackend(_root));

    protected override Task DestroyBackendAsync(IBlobBackend backend)
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task PutAsync_SourceFails_LeavesNoTemporaryFile()
    {
        await Assert.ThrowsAsync<IOException>(() => Backend.PutAsync("x", new FailingStream(Bytes(100_000, 1), failAfter: 50_000)));

        Assert.Empty(Directory.GetFiles(Path.Combine(_root, ".tmp")));
    }

    [Fact]
    public async Task DeleteStaleTemporaryFilesAsync_OldLeftover_Removed()
    {
        var leftover = Path.Combine(_root, ".tmp", "dead.tmp");
        await File.WriteAllBytesAsync(leftover, [1, 2, 3]);
        File.SetLastWriteTimeUtc(leftover, DateTime.UtcNow.AddHours(-2));

        var backend = (LocalDirectoryBackend)Backend;
        Assert.Equal(0, await backend.DeleteStaleTemporaryFilesAsync(DateTimeOffset.UtcNow.AddHours(-3)));
        Assert.Equal(1, await backend.DeleteStaleTemporaryFilesAsync(DateTimeOffset.UtcNow.AddHours(-1)));
        Assert.False(File.Exists(leftover));
    }

    [Fact]
    public async Task ListAsync_TemporaryFiles_NotListed()
    {
        await File.WriteAllBytesAsync(Path.Combine(_root, ".tmp", "partial.tmp"), [1]);

        Assert.Empty(await NamesAsync(""));
    }
}
