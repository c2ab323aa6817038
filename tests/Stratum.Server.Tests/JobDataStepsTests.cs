using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Server.Jobs;

namespace Stratum.Server.Tests;

/// <summary>
/// A job's store steps run as their own phase, off the controller loop, against a real server: a checkout held
/// midway (by <see cref="JobStoreData.BeforeInputFile"/>, standing in for hundreds of megabytes) keeps its own job
/// waiting and no other, a cancel stops it, and a commit cut short by a restart is made once by the next server.
/// </summary>
public sealed class JobDataStepsTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private StratumClient _admin = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        _admin = new StratumClient(_server.Server.Address, _server.Server.AdminToken);
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "images", Kind = "dataset" });
        for (var i = 0; i < 3; i++)
        {
            await _admin.PutObjectAsync("images", "main", $"train/{i}.txt", new MemoryStream(System.Text.Encoding.UTF8.GetBytes($"file {i}\n")));
        }

        await _admin.CommitAsync("images", "main", new CommitRequestDto { Message = "images" });
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "models", Kind = "model" });
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        foreach (var directory in Directory.Exists(Path.Combine(_server.DataDirectory, "jobs"))
            ? Directory.EnumerateDirectories(Path.Combine(_server.DataDirectory, "jobs"), "*", SearchOption.AllDirectories)
            : [])
        {
            File.SetUnixFileMode(directory, File.GetUnixFileMode(directory) | UnixFileMode.UserWrite);
        }

        await _server.DisposeAsync();
    }

    private JobStoreData Data => (JobStoreData)_server.Server.Services.GetService(typeof(JobStoreData))!;

    [Fact]
    public async Task SlowCheckout_DoesNotDelayAnotherJobsStart_AndShowsItsProgress_ThenLaunches()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = -1L;
        Data.BeforeInputFile = async (jobId, token) =>
        {
            if (jobId == Volatile.Read(ref held))
            {
                await release.Task.WaitAsync(token);
            }
        };

        var input = new JobInputDto { Repo = "images", Path = "train", MountAs = "data" };
        var slow = await _server.SubmitAsync(TestServer.Job("cat", "data/0.txt", "data/2.txt") with { Inputs = [input] });
        Volatile.Write(ref held, slow.Id);
        var progress = new System.Text.RegularExpressions.Regex(@"^preparing inputs: images@[0-9a-f]{8,}:train, 0 of 3 files$");
        var preparing = await _server.WaitForJobAsync(slow.Id, j => progress.IsMatch(j.Reason));
        Assert.Equal("Running", preparing.State);

        // The controller loop is free: a job without data starts, runs and ends while the checkout is held.
        var quick = await _server.SubmitAsync(TestServer.Job("echo", "quick"));
        await _server.WaitForStateAsync(quick.Id, "Succeeded");
        var still = await _server.GetJobAsync(slow.Id);
        Assert.Equal(("Running", preparing.Reason), (still.State, still.Reason));
        Assert.False(File.Exists(PreparedRecordPath(slow.Id, 1)), "the attempt is not prepared while its checkout is held");

        release.SetResult();
        await _server.WaitForStateAsync(slow.Id, "Succeeded");
        Assert.Equal("file 0\nfile 2\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{slow.Id}/logs"));
        Assert.True(File.Exists(PreparedRecordPath(slow.Id, 1)));
    }

    [Fact]
    public async Task Cancel_WhilePreparing_StopsTheCheckout_AndReleasesThePlacement_WithoutRunningTheJob()
    {
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Data.BeforeInputFile = async (_, token) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException)
            {
                stopped.TrySetResult();
                throw;
            }
        };

        var marker = Path.Combine(_server.DataDirectory, "ran-" + Guid.NewGuid().ToString("N")[..8]);
        var job = await _server.SubmitAsync(TestServer.Job("touch", marker) with { Inputs = [new JobInputDto { Repo = "images" }] });
        await _server.WaitForJobAsync(job.Id, j => j.Reason.StartsWith("preparing inputs", StringComparison.Ordinal));

        // The attempt holds its placement while it prepares: a job wanting the whole node waits.
        var whole = await _server.SubmitAsync(TestServer.Job("true") with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" } });
        await Task.Delay(1000);
        Assert.Equal("Pending", (await _server.GetJobAsync(whole.Id)).State);

        await _admin.CancelJobAsync(job.Id);
        var cancelled = await _server.WaitForStateAsync(job.Id, "Cancelled");
        await stopped.Task.WaitAsync(TestServer.Deadline);
        Assert.Equal("cancelled by admin", cancelled.Reason);
        Assert.Equal("not started: cancelled while its data was being prepared", Assert.Single(cancelled.Attempts).Outcome);
        Assert.Null(cancelled.Attempts[0].StoreCommits);

        await _server.WaitForStateAsync(whole.Id, "Succeeded");
        Assert.False(File.Exists(marker), "a job cancelled while preparing must never run");
    }

    [Fact]
    public async Task Preempted_WhilePreparing_IsQueuedWithoutRunning_AndResumesWithASecondAttempt()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Data.BeforeInputFile = (_, token) => release.Task.WaitAsync(token);
        var whole = new ResourcesDto { Cpu = "4", Memory = "1Gi" };
        var low = await _server.SubmitAsync(TestServer.Job("cat", "images/train/1.txt") with { Resources = whole, Preemptible = true, Inputs = [new JobInputDto { Repo = "images" }] });
        await _server.WaitForJobAsync(low.Id, j => j.Reason.StartsWith("preparing inputs: ", StringComparison.Ordinal));

        var high = await _server.SubmitAsync(TestServer.Job("echo", "high") with { Resources = whole, Priority = 100 });
        var preempted = await _server.WaitForStateAsync(low.Id, "Preempted");
        Assert.Equal("not started: preempted while its data was being prepared", Assert.Single(preempted.Attempts).Outcome);
        await _server.WaitForStateAsync(high.Id, "Succeeded");

        release.SetResult();
        var resumed = await _server.WaitForStateAsync(low.Id, "Succeeded");
        Assert.Equal(2, resumed.Attempts.Count);
        Assert.Equal("file 1\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{low.Id}/logs?attempt=2"));
    }

    [Fact]
    public async Task Restart_WhileCommittingOutputs_KeepsTheJobRunning_ThenTheNextServerCommitsOnce()
    {
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Data.BeforeCommits = async (_, token) =>
        {
            holding.TrySetResult();
            await Task.Delay(Timeout.Infinite, token);
        };

        var job = await _server.SubmitAsync(TestServer.Job("sh", "-c", "mkdir out && echo weights > out/model.bin") with
        {
            Outputs = [new JobOutputDto { Path = "out", Repo = "models", Branch = "main" }],
        });
        await holding.Task.WaitAsync(TestServer.Deadline);

        // The replica has exited, but "Succeeded" waits for the commit: the job shows the commit it is making.
        var committing = await _server.WaitForJobAsync(job.Id, j => j.Reason.StartsWith("attempt ended; committing output", StringComparison.Ordinal));
        Assert.Equal("Running", committing.State);
        Assert.Equal("attempt ended; committing output out to models@main", committing.Reason);
        var before = (await _admin.LogAsync("models", "main")).Count;

        await _server.RestartAsync();
        using var admin = new StratumClient(_server.Server.Address, _server.Server.AdminToken);
        var done = await _server.WaitForStateAsync(job.Id, "Succeeded");
        var log = await admin.LogAsync("models", "main");
        Assert.Equal(before + 1, log.Count);
        Assert.Equal(log[0].Id, Assert.Single(done.Outputs).Commit);
        Assert.Equal(job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), log[0].Lineage!.JobId);
    }

    private string PreparedRecordPath(long jobId, int attempt) =>
        Path.Combine(_server.DataDirectory, "jobs", jobId.ToString(System.Globalization.CultureInfo.InvariantCulture), "store", $"attempt-{attempt}.json");
}
