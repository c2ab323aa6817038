using System.Diagnostics;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Execution.Tests;

/// <summary>Test data builders.</summary>
public static class Make
{
    public static Job Job(
        long id,
        IReadOnlyList<string> command,
        int replicas = 1,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null) => new()
        {
            Id = id,
            Owner = "alice",
            State = JobState.Running,
            SubmittedAt = DateTimeOffset.UnixEpoch,
            Spec = new JobSpec
            {
                Name = "test-job",
                Project = "research",
                Command = command,
                Replicas = replicas,
                WorkingDirectory = workingDirectory,
                Environment = environment ?? new Dictionary<string, string>(),
                Resources = ResourceVector.Of(cpus: 0.1, memoryBytes: 1L << 20),
            },
        };

    /// <summary>An attempt with one replica per entry of <paramref name="accelerators"/>, rank = position.</summary>
    public static JobAttempt Attempt(int number, params int[][] accelerators) => new()
    {
        Number = number,
        StartedAt = DateTimeOffset.UnixEpoch,
        Placement = accelerators.Select((a, rank) => new ReplicaPlacement(rank, "local", a)).ToList(),
    };

    public static JobAttempt Attempt(int number = 1) => Attempt(number, [Array.Empty<int>()]);

    /// <summary>sh -c SCRIPT: test programs are small shell scripts.</summary>
    public static IReadOnlyList<string> Shell(string script) => ["/bin/sh", "-c", script];
}

/// <summary>A fresh directory under the system temp directory, removed afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "stratum-execution-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A straggler may still be writing a log; the temp directory is cleaned by the system anyway.
        }
    }
}

/// <summary>Waits for a condition by polling with a deadline, never by sleeping a fixed time.</summary>
public static class Poll
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null)
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                return value;
            }

            if (stopwatch.Elapsed > (timeout ?? DefaultTimeout))
            {
                throw new TimeoutException($"{what}: not reached within {(timeout ?? DefaultTimeout).TotalSeconds}s; last value: {value}");
            }

            await Task.Delay(20);
        }
    }

    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        UntilAsync(() => Task.FromResult(condition()), ok => ok, what, timeout);

    /// <summary>True while /proc shows the process alive (a zombie counts as gone).</summary>
    public static bool ProcessAlive(int pid)
    {
        try
        {
            var stat = System.IO.File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }
}
