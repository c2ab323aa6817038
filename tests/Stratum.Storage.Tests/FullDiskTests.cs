using System.Diagnostics;
using Stratum.Storage.Backends;

namespace Stratum.Storage.Tests;

/// <summary>
/// A real full disk: an 8 MiB tmpfs. Mounting needs root (CI runs as root); elsewhere the test skips by
/// returning early, and under CI=true a failed mount fails it. The simulated variant (a backend that
/// throws ENOSPC) runs everywhere: ChunkStoreTests.WriteAsync_DiskFullMidWrite_*.
/// </summary>
public sealed class FullDiskTests
{
    private static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    [Fact]
    public async Task WriteAsync_RealFullTmpfs_ClearIOExceptionAndEarlierContentReads()
    {
        var mountPoint = TestStores.NewDirectory();
        var (mounted, why) = Run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint);
        if (!mounted)
        {
            Directory.Delete(mountPoint);
            Assert.False(InCi, $"cannot mount an 8 MiB tmpfs under CI (needs root): {why}");
            return;
        }

        try
        {
            await using var store = await TestStores.OpenAsync(new LocalDirectoryBackend(mountPoint), TestStores.Keys());
            var first = new byte[2 << 20];
            new Random(1).NextBytes(first);
            var kept = await store.WriteAsync(new MemoryStream(first));
            var tooBig = new byte[20 << 20];
            new Random(2).NextBytes(tooBig);

            var error = await Assert.ThrowsAsync<IOException>(() => store.WriteAsync(new MemoryStream(tooBig)));

            // .NET words ENOSPC as "No space left on device" on write and "the disk was full" on preallocation.
            Assert.True(error.Message.Contains("No space left on device", StringComparison.Ordinal) || error.Message.Contains("disk was full", StringComparison.Ordinal), error.Message);
            Assert.Equal(first, await TestStores.ReadAllAsync(store, kept));
            await using var reopened = await TestStores.OpenAsync(new LocalDirectoryBackend(mountPoint), TestStores.Keys());
            Assert.Equal(first, await TestStores.ReadAllAsync(reopened, kept));
            Assert.True((await reopened.VerifyAsync()).IsClean);
            Assert.Empty(Directory.GetFiles(Path.Combine(mountPoint, ".tmp")));
        }
        finally
        {
            Run("umount", mountPoint);
            Directory.Delete(mountPoint, recursive: true);
        }
    }

    private static (bool Ok, string Output) Run(string program, params string[] arguments)
    {
        try
        {
            var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start)!;
            var output = process.StandardError.ReadToEnd() + process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode == 0, output.Trim());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (false, e.Message);
        }
    }
}
