using System.Runtime.InteropServices;

namespace Stratum.S3.Backend;

/// <summary>fsync of a directory, which .NET does not expose: it makes a rename durable, not just atomic.</summary>
internal static class DirectorySync
{
    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000;

    public static void Sync(string directory)
    {
        var fd = Open(directory, ORdOnly | ODirectory);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"open({directory}) for fsync failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new IOException($"fsync({directory}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}
