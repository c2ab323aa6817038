namespace Stratum.Execution;

/// <summary>
/// Caps a replica's log file: once it passes the limit, its content moves to "NAME.1" (replacing an
/// older one) and the file starts again from empty. The replica keeps writing through its own
/// descriptor, opened for appending, so its next write lands at the start of the emptied file. As with
/// logrotate's copytruncate, a line written between the copy and the truncation can be lost; the
/// alternative, an unbounded file, can fill the disk under everything else.
/// </summary>
public static class LogRotation
{
    public const string RotatedSuffix = ".1";

    /// <summary>Rotates <paramref name="path"/> when it is larger than <paramref name="maxBytes"/>; returns whether it did.</summary>
    public static bool Enforce(string path, long maxBytes)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.Length <= maxBytes)
        {
            return false;
        }

        try
        {
            File.Copy(path, path + RotatedSuffix, overwrite: true);
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            file.SetLength(0);
            return true;
        }
        catch (IOException)
        {
            // A full disk or a vanished file: try again at the next check rather than fail the job.
            return false;
        }
    }
}
