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

        // The holder's pid also goes in a file of its own: the lock covers reads of server.lock too, so another
        // process cannot read the pid there (it used to fall back to its own pid, naming the wrong process).
        var pidPath = Path.Combine(dataDirectory, "server.pid");
        try
        {
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            file.SetLength(0);
            using (var writer = new StreamWriter(file, leaveOpen: true))
            {
                writer.Write(Environment.ProcessId);
            }

            file.Flush();
            File.WriteAllText(pidPath, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return new DataDirectoryLock(file);
        }
        catch (IOException)
        {
            var holder = "another process";
            try
            {
                if (File.Exists(pidPath) && int.TryParse(File.ReadAllText(pidPath).Trim(), System.Globalization.CultureInfo.InvariantCulture, out var pid))
                {
                    holder = $"pid {pid.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
                }
            }
            catch (IOException)
            {
                // The message names no pid then.
            }

            throw new InvalidOperationException(
                $"Another Stratum server ({holder}) is using the data directory {dataDirectory}. Stop it first, or pass another --data directory.");
        }
    }

    public void Dispose() => _file.Dispose();
}
