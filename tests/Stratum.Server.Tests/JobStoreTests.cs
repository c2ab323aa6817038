using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Stratum.Client;
using Stratum.Client.Contracts;

namespace Stratum.Server.Tests;

/// <summary>
/// Jobs that read inputs from the artifact store, commit outputs to it and keep their checkpoints in it, against a
/// real server whose local executor runs each replica as a real process.
/// </summary>
public sealed class JobStoreTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private StratumClient _admin = null!;
    private string _dataCommit = "";

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync();
        _admin = new StratumClient(_server.Server.Address, _server.Server.AdminToken);
        await _server.ApplyAsync("""
            projects:
              - name: vision
            users:
              - name: bob
                roles: {vision: member}
            """);
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "images", Kind = "dataset" });
        await _admin.PutObjectAsync("images", "main", "train/a.txt", new MemoryStream("alpha\n"u8.ToArray()));
        await _admin.PutObjectAsync("images", "main", "train/sub/b.txt", new MemoryStream("beta\n"u8.ToArray()));
        await _admin.PutObjectAsync("images", "main", "README", new MemoryStream("not under train\n"u8.ToArray()));
        _dataCommit = (await _admin.CommitAsync("images", "main", new CommitRequestDto { Message = "first images" })).Id;
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "models", Kind = "model" });
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "ckpts", Kind = "checkpoints" });
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();

        // Input directories are read-only; give them their write bit back so the data directory can be removed.
        foreach (var directory in Directory.Exists(Path.Combine(_server.DataDirectory, "jobs"))
            ? Directory.EnumerateDirectories(Path.Combine(_server.DataDirectory, "jobs"), "*", SearchOption.AllDirectories)
            : [])
        {
            File.SetUnixFileMode(directory, File.GetUnixFileMode(directory) | UnixFileMode.UserWrite);
        }

        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Input_IsCheckedOutReadOnly_ReadByTheJob_AndServedFromTheNodeCacheTheSecondTime()
    {
        // Root ignores mode bits, so the write attempt runs as nobody when the tests run as root.
        var probe = "cat data/a.txt data/sub/b.txt; if (echo x >> data/a.txt) 2>/dev/null; then echo WROTE; else echo DENIED; fi; "
            + "if (echo x > data/new.txt) 2>/dev/null; then echo CREATED; else echo NOT-CREATED; fi";
        var input = new JobInputDto { Repo = "images", Ref = "main", Path = "train", MountAs = "data" };

        var first = await _server.SubmitAsync(TestServer.Job(AsUnprivileged("sh", "-c", probe)) with { Inputs = [input] });
        Assert.Equal(_dataCommit, Assert.Single(first.Inputs).Commit);
        var done = await _server.WaitForStateAsync(first.Id, "Succeeded");
        Assert.Equal("alpha\nbeta\nDENIED\nNOT-CREATED\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{first.Id}/logs"));
        Assert.Equal(_dataCommit, done.Inputs[0].Commit);
        Assert.Equal("data", done.Inputs[0].MountAs);

        var work = Path.Combine(_server.DataDirectory, "jobs", first.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "work-0", "data");
        Assert.False(File.Exists(Path.Combine(work, "README")), "only the input's path is checked out");
        Assert.Equal(0, (int)(File.GetUnixFileMode(Path.Combine(work, "a.txt")) & (UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)));
        Assert.Equal(0, (int)(File.GetUnixFileMode(work) & (UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)));
        var firstRecord = PreparedRecord(first.Id, 1);
        Assert.Equal(2, firstRecord.GetProperty("inputs")[0].GetProperty("files").GetInt32());
        Assert.Equal(2, firstRecord.GetProperty("inputs")[0].GetProperty("fetchedFiles").GetInt32());

        // The same data again: every file comes from the node's cache, none from the store.
        var second = await _server.SubmitAsync(TestServer.Job("cat", "data/a.txt") with { Inputs = [input] });
        await _server.WaitForStateAsync(second.Id, "Succeeded");
        Assert.Equal("alpha\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{second.Id}/logs"));
        var secondRecord = PreparedRecord(second.Id, 1);
        Assert.Equal(2, secondRecord.GetProperty("inputs")[0].GetProperty("files").GetInt32());
        Assert.Equal(0, secondRecord.GetProperty("inputs")[0].GetProperty("fetchedFiles").GetInt32());
    }

    [Fact]
    public async Task Input_IsPinnedAtSubmission_SoALaterCommitDoesNotChangeWhatTheJobReads()
    {
        // A job holding the whole node keeps the next one waiting until the test opens the gate.
        var gate = Path.Combine(_server.DataDirectory, "gate-" + Guid.NewGuid().ToString("N")[..8]);
        var holder = await _server.SubmitAsync(TestServer.Job("sh", "-c", $"while [ ! -f '{gate}' ]; do sleep 0.1; done") with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" } });
        await _server.WaitForStateAsync(holder.Id, "Running");
        var job = await _server.SubmitAsync(TestServer.Job("cat", "images/README") with { Inputs = [new JobInputDto { Repo = "images" }] });
        Assert.Equal("main", job.Inputs[0].Ref);
        Assert.Equal(_dataCommit, job.Inputs[0].Commit);

        await _admin.PutObjectAsync("images", "main", "README", new MemoryStream("changed later\n"u8.ToArray()));
        await _admin.CommitAsync("images", "main", new CommitRequestDto { Message = "change" });
        Assert.Equal("Pending", (await _server.GetJobAsync(job.Id)).State);
        await File.WriteAllTextAsync(gate, "go");
        await _server.WaitForStateAsync(job.Id, "Succeeded");
        Assert.Equal("not under train\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{job.Id}/logs"));
    }

    [Fact]
    public async Task Input_GoneBeforeTheJobStarts_FailsTheJobBeforeItRuns_NamingTheCheckout()
    {
        await _admin.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "scratch", Kind = "dataset" });
        await _admin.PutObjectAsync("scratch", "main", "x.txt", new MemoryStream("x\n"u8.ToArray()));
        await _admin.CommitAsync("scratch", "main", new CommitRequestDto { Message = "x" });
        var gate = Path.Combine(_server.DataDirectory, "gate-" + Guid.NewGuid().ToString("N")[..8]);
        var holder = await _server.SubmitAsync(TestServer.Job("sh", "-c", $"while [ ! -f '{gate}' ]; do sleep 0.1; done") with { Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" } });
        await _server.WaitForStateAsync(holder.Id, "Running");
        var marker = Path.Combine(_server.DataDirectory, "ran-" + Guid.NewGuid().ToString("N")[..8]);
        var job = await _server.SubmitAsync(TestServer.Job("touch", marker) with { Inputs = [new JobInputDto { Repo = "scratch" }] });

        await _admin.DeleteRepositoryAsync("scratch");
        await File.WriteAllTextAsync(gate, "go");

        var failed = await _server.WaitForStateAsync(job.Id, "Failed");
        Assert.StartsWith($"input checkout of scratch@{job.Inputs[0].Commit}", failed.Reason);
        Assert.StartsWith("not started: input checkout", Assert.Single(failed.Attempts).Outcome);
        Assert.False(File.Exists(marker), "the job's program must not run without its input");
    }

    [Fact]
    public async Task Output_IsCommittedToItsBranch_WithLineageNamingTheJobAndTheInputCommit()
    {
        var script = "mkdir -p out/weights && cat data/a.txt > out/weights/model.bin && echo 'step 100' > out/meta.txt";
        var job = await _server.SubmitAsync(TestServer.Job("sh", "-c", script) with
        {
            Inputs = [new JobInputDto { Repo = "images", Ref = "main", Path = "train", MountAs = "data" }],
            Outputs = [new JobOutputDto { Path = "out", Repo = "models", Branch = "main", To = "run-1", Message = "trained" }],
        });
        var done = await _server.WaitForStateAsync(job.Id, "Succeeded");

        var output = Assert.Single(done.Outputs);
        Assert.NotNull(output.Commit);
        var head = (await _admin.LogAsync("models", "main", 1))[0];
        Assert.Equal(output.Commit, head.Id);
        Assert.Equal("trained", head.Message);
        Assert.Equal("admin", head.Author);
        Assert.Equal(job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), head.Lineage!.JobId);
        Assert.Equal([$"images@{_dataCommit}"], head.Lineage.Inputs);
        var attempt = Assert.Single(done.Attempts);
        var recorded = Assert.Single(attempt.StoreCommits!);
        Assert.Equal(("output", "models", "main", head.Id), (recorded.Kind, recorded.Repo, recorded.Branch, recorded.Commit));

        var files = await _admin.ListObjectsAsync("models", "main");
        Assert.Equal(["run-1/meta.txt", "run-1/weights/model.bin"], files.Objects.Select(o => o.Path).ToArray());
        await using var model = await _admin.OpenObjectAsync("models", "main", "run-1/weights/model.bin");
        Assert.Equal("alpha\n", await new StreamReader(model).ReadToEndAsync());
    }

    [Fact]
    public async Task Output_ThatTheJobNeverWrote_FailsTheJobNamingTheCommit()
    {
        var job = await _server.SubmitAsync(TestServer.Job("true") with
        {
            Outputs = [new JobOutputDto { Path = "out/model.bin", Repo = "models", Branch = "main" }],
        });
        var failed = await _server.WaitForStateAsync(job.Id, "Failed");
        Assert.StartsWith("output commit to models@main failed: 'out/model.bin' does not exist in the working directory of replica 0", failed.Reason);
        Assert.Null(failed.Outputs[0].Commit);
        Assert.Single(await _admin.LogAsync("models", "main"));
    }

    [Fact]
    public async Task PreemptedJob_ResumesFromTheCheckpointTheStoreKept_EvenWithTheLocalCopyGone()
    {
        var gate = Path.Combine(_server.DataDirectory, "gate-" + Guid.NewGuid().ToString("N")[..8]);
        var train = "if [ -f \"$STRATUM_CHECKPOINT_DIR/ckpt\" ]; then echo \"resumed from $(cat \"$STRATUM_CHECKPOINT_DIR/ckpt\")\"; exit 0; fi; "
            + "trap 'mkdir -p \"$STRATUM_CHECKPOINT_DIR/state\"; echo attempt-$STRATUM_ATTEMPT > \"$STRATUM_CHECKPOINT_DIR/ckpt\"; echo opt > \"$STRATUM_CHECKPOINT_DIR/state/opt\"; exit 0' TERM; "
            + "echo training; sleep 60 & wait";
        var low = await _server.SubmitAsync(TestServer.Job("sh", "-c", train) with
        {
            Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" },
            Preemptible = true,
            Checkpoints = new JobCheckpointsDto { Repo = "ckpts" },
        });
        Assert.Equal($"job-{low.Id}", low.Checkpoints!.Branch);
        await _server.WaitForStateAsync(low.Id, "Running");
        await UntilAsync(async () => (await _server.Admin.GetStringAsync($"/api/v1/jobs/{low.Id}/logs")).Contains("training", StringComparison.Ordinal));

        // A more important job takes the node and holds it until the test opens the gate.
        var high = await _server.SubmitAsync(TestServer.Job("sh", "-c", $"while [ ! -f '{gate}' ]; do sleep 0.1; done") with
        {
            Resources = new ResourcesDto { Cpu = "4", Memory = "1Gi" },
            Priority = 100,
        });
        var preempted = await _server.WaitForStateAsync(low.Id, "Preempted");
        var saved = Assert.Single(preempted.Attempts[0].StoreCommits!);
        Assert.Equal(("checkpoint", "ckpts", $"job-{low.Id}"), (saved.Kind, saved.Repo, saved.Branch));
        var commit = (await _admin.LogAsync("ckpts", $"job-{low.Id}", 1))[0];
        Assert.Equal(saved.Commit, commit.Id);
        Assert.Contains("after attempt 1", commit.Message, StringComparison.Ordinal);
        Assert.Equal("1", commit.Metadata["stratum.attempt"]);
        Assert.Equal(low.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), commit.Lineage!.JobId);

        // As if the job resumed on another node: nothing of the checkpoint is left here.
        var local = Path.Combine(_server.DataDirectory, "jobs", low.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "checkpoints");
        Directory.Delete(local, recursive: true);
        await File.WriteAllTextAsync(gate, "go");

        await _server.WaitForStateAsync(high.Id, "Succeeded");
        var resumed = await _server.WaitForStateAsync(low.Id, "Succeeded");
        Assert.Equal(2, resumed.Attempts.Count);
        Assert.Equal("resumed from attempt-1\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{low.Id}/logs?attempt=2"));
        Assert.Equal("opt\n", await File.ReadAllTextAsync(Path.Combine(local, "state", "opt")));
        Assert.Equal(commit.Id, PreparedRecord(low.Id, 2).GetProperty("restoredCheckpoint").GetString());
    }

    [Fact]
    public async Task CheckpointBranch_MirrorsTheDirectory_ADeletedFileIsDeletedOnTheBranch()
    {
        var job = await _server.SubmitAsync(TestServer.Job("sh", "-c", "echo 2 > \"$STRATUM_CHECKPOINT_DIR/step-2\"") with
        {
            Checkpoints = new JobCheckpointsDto { Repo = "ckpts", Branch = "shared" },
        });

        // The named branch does not exist yet: it is made from the default branch at the first save.
        await _server.WaitForStateAsync(job.Id, "Succeeded");
        Assert.Equal(["step-2"], (await _admin.ListObjectsAsync("ckpts", "shared")).Objects.Select(o => o.Path).ToArray());

        var next = await _server.SubmitAsync(TestServer.Job("sh", "-c", "cat \"$STRATUM_CHECKPOINT_DIR/step-2\"; rm \"$STRATUM_CHECKPOINT_DIR/step-2\"; echo 3 > \"$STRATUM_CHECKPOINT_DIR/step-3\"") with
        {
            Checkpoints = new JobCheckpointsDto { Repo = "ckpts", Branch = "shared" },
        });
        await _server.WaitForStateAsync(next.Id, "Succeeded");
        Assert.Equal("2\n", await _server.Admin.GetStringAsync($"/api/v1/jobs/{next.Id}/logs"));
        Assert.Equal(["step-3"], (await _admin.ListObjectsAsync("ckpts", "shared")).Objects.Select(o => o.Path).ToArray());
    }

    [Theory]
    [InlineData("""{"inputs": [{"repo": "Bad_Name"}]}""", "inputs[0].repo", "is not a repository name")]
    [InlineData("""{"inputs": [{"repo": "nosuchrepo"}]}""", "inputs[0].repo", "no repository 'nosuchrepo'")]
    [InlineData("""{"inputs": [{"repo": "images", "ref": "v9"}]}""", "inputs[0].ref", "'v9' is not a branch, tag or commit of 'images'")]
    [InlineData("""{"inputs": [{"repo": "images", "path": "nope"}]}""", "inputs[0].path", "'nope' is neither a file nor a directory")]
    [InlineData("""{"inputs": [{"repo": "images", "mountAs": "../escape"}]}""", "inputs[0].mountAs", "'..'")]
    [InlineData("""{"inputs": [{"repo": "images"}, {"repo": "images", "mountAs": "images/sub"}]}""", "inputs[1].mountAs", "overlaps")]
    [InlineData("""{"outputs": [{"path": "/etc", "repo": "models", "branch": "main"}]}""", "outputs[0].path", "relative")]
    [InlineData("""{"outputs": [{"path": "out", "repo": "models", "branch": "exp"}]}""", "outputs[0].branch", "stratum store branch create models exp")]
    [InlineData("""{"outputs": [{"path": "out", "repo": "models"}]}""", "outputs[0].branch", "is required")]
    [InlineData("""{"checkpoints": {"repo": "nockpts"}}""", "checkpoints.repo", "no repository 'nockpts'")]
    public async Task BadStoreFields_Are400NamingTheField_AndCreateNoJob(string fields, string field, string message)
    {
        var body = """{"command": ["true"], "resources": {"cpu": "1", "memory": "256Mi"}, """ + fields[1..];
        using var response = await _server.Admin.PostAsync("/api/v1/jobs", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{response.StatusCode}: {text}");
        Assert.Contains($"\"{field}\"", text, StringComparison.Ordinal);
        Assert.Contains(message, text, StringComparison.Ordinal);
        Assert.Empty((await _server.Admin.GetFromJsonAsync<PageDto<JobDto>>("/api/v1/jobs", TestServer.JsonOptions))!.Items);
    }

    [Fact]
    public async Task WritingToARepositoryOfAnotherProject_Is403_ButReadingIsAllowed()
    {
        var created = await _admin.CreateTokenAsync(new CreateTokenRequest { User = "bob", Name = "test" });
        using var bob = _server.Client(created.Secret);
        var reads = await _server.SubmitAsync(TestServer.Job("true") with { Project = "vision", Inputs = [new JobInputDto { Repo = "images" }] }, bob);
        Assert.Equal(_dataCommit, reads.Inputs[0].Commit);

        using var response = await bob.PostAsJsonAsync("/api/v1/jobs", TestServer.Job("true") with
        {
            Project = "vision",
            Outputs = [new JobOutputDto { Path = "out", Repo = "models", Branch = "main" }],
        }, TestServer.JsonOptions);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("repository 'models' belongs to no project, so only admins write to it", text, StringComparison.Ordinal);
        Assert.Single((await _server.Admin.GetFromJsonAsync<PageDto<JobDto>>("/api/v1/jobs", TestServer.JsonOptions))!.Items);
    }

    private static async Task UntilAsync(Func<Task<bool>> condition)
    {
        var until = DateTime.UtcNow + TestServer.Deadline;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, "the condition did not hold within the deadline");
            await Task.Delay(50);
        }
    }

    private JsonElement PreparedRecord(long jobId, int attempt)
    {
        var path = Path.Combine(_server.DataDirectory, "jobs", jobId.ToString(System.Globalization.CultureInfo.InvariantCulture), "store", $"attempt-{attempt}.json");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement.Clone();
    }

    private static string[] AsUnprivileged(params string[] command) =>
        Environment.UserName == "root" && File.Exists("/usr/bin/setpriv")
            ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", .. command]
            : command;
}
