using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Stratum.Execution.Tests.Slurm;

/// <summary>
/// A real single-node Slurm (munged, slurmctld, slurmd on 127.0.0.1) started by scripts/slurm-up.sh in a
/// temporary directory for the whole test collection, and stopped by PID (scripts/slurm-down.sh) at the end.
/// Where it cannot run (not root, Slurm not installed) the tests are skipped with the reason; under
/// CI=true they run regardless, and the script installs Slurm (apt) or the fixture fails with its output.
/// </summary>
public sealed class SlurmCluster : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(8);

    public SlurmCluster()
    {
        Directory = Path.Combine(Path.GetTempPath(), "stratum-slurm-" + Guid.NewGuid().ToString("N")[..12]);
        if (SkipReason is not null)
        {
            return;
        }

        System.IO.Directory.CreateDirectory(Directory);
        var (controllerPort, nodePort) = (FreePort(), FreePort());
        Environment = new Dictionary<string, string>
        {
            ["SLURM_CTLD_PORT"] = controllerPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["SLURMD_PORT"] = nodePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        StartController();
    }

    /// <summary>Why Slurm tests cannot run here, or null when they can (or must: under CI=true they fail instead).</summary>
    public static string? SkipReason { get; } = FindSkipReason();

    public string Directory { get; }

    public string ConfigFile => Path.Combine(Directory, "slurm.conf");

    private Dictionary<string, string> Environment { get; } = [];

    /// <summary>Starts whatever daemon is not running (all of them the first time; slurmctld after <see cref="StopController"/>).</summary>
    public void StartController()
    {
        var (exitCode, output) = RunScript("slurm-up.sh", StartTimeout);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"scripts/slurm-up.sh {Directory} failed with exit code {exitCode}:\n{output}\n{ReadLog("slurmctld.log")}{ReadLog("slurmd.log")}");
        }
    }

    /// <summary>Stops slurmctld alone (SIGTERM to the pid in its pid file) and waits until it is gone; jobs keep running under slurmd.</summary>
    public void StopController()
    {
        var pid = int.Parse(File.ReadAllText(Path.Combine(Directory, "slurmctld.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])))
        {
            kill!.WaitForExit();
        }

        var stopwatch = Stopwatch.StartNew();
        while (System.IO.Directory.Exists($"/proc/{pid}"))
        {
            if (stopwatch.Elapsed > TimeSpan.FromSeconds(20))
            {
                throw new TimeoutException($"slurmctld (pid {pid}) did not stop within 20 s");
            }

            Thread.Sleep(50);
        }
    }

    public void Dispose()
    {
        if (SkipReason is not null || !System.IO.Directory.Exists(Directory))
        {
            return;
        }

        RunScript("slurm-down.sh", TimeSpan.FromSeconds(60));
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A daemon may still be writing its last log line; the temporary directory is cleaned by the system anyway.
        }
    }

    private static string? FindSkipReason()
    {
        if (string.Equals(System.Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (!IsRoot())
        {
            return "Slurm tests need root (scripts/slurm-up.sh runs munged, slurmctld and slurmd as root); run them as root or under CI=true";
        }

        return File.Exists("/usr/sbin/slurmctld") && File.Exists("/usr/sbin/munged")
            ? null
            : "Slurm is not installed: apt-get install slurm-wlm munge (under CI=true scripts/slurm-up.sh installs them)";
    }

    private static bool IsRoot() =>
        File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal)) is { } line
        && line.Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(2) == "0";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "scripts", "slurm-up.sh")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("scripts/slurm-up.sh not found above " + AppContext.BaseDirectory);
    }

    private (int ExitCode, string Output) RunScript(string name, TimeSpan timeout)
    {
        var startInfo = new ProcessStartInfo("/bin/bash", [Path.Combine(RepositoryRoot(), "scripts", name), Directory])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in Environment)
        {
            startInfo.Environment[key] = value;
        }

        using var process = Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, $"timed out after {timeout.TotalSeconds}s\n{stdout.Result}{stderr.Result}");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private string ReadLog(string name)
    {
        var path = Path.Combine(Directory, "log", name);
        return File.Exists(path) ? $"--- {name} ---\n{string.Join('\n', File.ReadLines(path).TakeLast(30))}\n" : "";
    }
}

/// <summary>A [Fact] that needs the real Slurm cluster: skipped with <see cref="SlurmCluster.SkipReason"/> where it cannot run.</summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        if (SlurmCluster.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SlurmCollection : ICollectionFixture<SlurmCluster>
{
    public const string Name = "slurm";
}
