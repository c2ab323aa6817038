using System.Globalization;
using Stratum.Core.Jobs;

namespace Stratum.Execution.Tests;

/// <summary>
/// Runs real programs through an executor: each test gets its own jobs root and temporary directory,
/// and anything still running at the end is killed.
/// </summary>
public abstract class ExecutorTestBase : IAsyncLifetime
{
    private static long _nextJobId = 1000;
    private readonly List<(Job Job, JobAttempt Attempt)> _launched = [];

    protected TempDirectory Temp { get; } = new();

    protected string JobsRoot => Path.Combine(Temp.Path, "jobs");

    protected IExecutor Executor { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Executor = CreateExecutor(JobsRoot);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var (job, attempt) in _launched)
        {
            await Executor.SignalAsync(job, attempt, ReplicaSignal.Kill).WaitAsync(Poll.DefaultTimeout);
        }

        Temp.Dispose();
    }

    protected abstract IExecutor CreateExecutor(string jobsRoot);

    protected static long NextJobId() => Interlocked.Increment(ref _nextJobId);

    protected async Task<(Job Job, JobAttempt Attempt)> LaunchAsync(IReadOnlyList<string> command, string? workingDirectory = null)
    {
        var job = Make.Job(NextJobId(), command, workingDirectory: workingDirectory);
        var attempt = Make.Attempt();
        await LaunchAsync(job, attempt);
        return (job, attempt);
    }

    protected async Task LaunchAsync(Job job, JobAttempt attempt)
    {
        _launched.Add((job, attempt));
        await Executor.LaunchAsync(job, attempt).WaitAsync(Poll.DefaultTimeout);
    }

    protected Task<AttemptObservation> UntilEndedAsync(Job job, JobAttempt attempt, IExecutor? executor = null) =>
        Poll.UntilAsync(
            () => (executor ?? Executor).ObserveAsync(job, attempt),
            o => o.AllEnded,
            $"job {job.Id} attempt {attempt.Number} ended");

    protected string ReadLog(Job job, JobAttempt attempt, int rank, LogStream stream)
    {
        var logs = Assert.IsAssignableFrom<ISupportsLogFiles>(Executor);
        return File.ReadAllText(logs.LogPath(job.Id, attempt.Number, rank, stream));
    }

    protected static async Task<int> ReadPidFileAsync(string path)
    {
        var text = await Poll.UntilAsync(
            () => Task.FromResult(File.Exists(path) ? File.ReadAllText(path) : ""),
            t => t.EndsWith('\n'),
            $"{path} written");
        return int.Parse(text.Trim(), CultureInfo.InvariantCulture);
    }

    protected static Dictionary<string, string> ParseEnv(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(line => line.Contains('='))
            .Select(line => line.Split('=', 2))
            .GroupBy(parts => parts[0])
            .ToDictionary(g => g.Key, g => g.Last()[1]);
}
