namespace Stratum.Server.Hosting;

/// <summary>
/// One server per data directory: two would both run the executor over the same jobs. The lock is an
/// exclusive open of server.lock (flock on Linux), released by the kernel when the process dies, so a
/// kill -9 never leaves a stale lock behind.
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    private readonly FileStream _file;

    private DataDirectoryLock(FileStream file) => _file = file;

    public static DataDirectoryLock Acquire(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "server.lock");
        try
        {
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            file.SetLength(0);
            using (var writer = new StreamWriter(file, leaveOpen: true))
            {
                writer.Write(Environment.ProcessId);
            }

            file.Flush();
            return new DataDirectoryLock(file);
        }
        catch (IOException)
        {
            var holder = "?";
            try
            {
                holder = File.ReadAllText(path).Trim();
            }
            catch (IOException)
            {
                // Held by this very process: the lock is per open file, and this process holds it.
                holder = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            throw new InvalidOperationException(
                $"Another Stratum server (pid {holder}) is using the data directory {dataDirectory}. Stop it first, or pass another --data directory.");
        }
    }

    public void Dispose() => _file.Dispose();
}
