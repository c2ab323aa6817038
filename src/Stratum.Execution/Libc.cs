using System.Runtime.InteropServices;

namespace Stratum.Execution;

/// <summary>The few libc calls .NET does not expose: signalling a whole process group.</summary>
internal static partial class Libc
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private const int Esrch = 3;

    /// <summary>Sends <paramref name="signal"/> to every process of the group; false when no such group exists any more.</summary>
    /// <exception cref="IOException">The kernel refused for another reason (EPERM: someone else's processes).</exception>
    public static bool KillProcessGroup(int processGroup, int signal)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(processGroup, 1);
        if (Kill(-processGroup, signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == Esrch
            ? false
            : throw new IOException($"kill(-{processGroup}, {signal}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
