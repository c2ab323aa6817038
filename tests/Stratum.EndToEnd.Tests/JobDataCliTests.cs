using System.Globalization;
using Stratum.Cli;
using Stratum.Cli.Commands;
using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary><c>stratum jobs submit --input/--save/--checkpoint-repo</c> and <c>jobs show</c>: the real program against a real <c>stratum up</c>.</summary>
public sealed class JobDataCliTests(ServerFixture fixture) : IClassFixture<ServerFixture>, IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("stratum-jobdata-cli-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public async Task SubmitWithInputOutputAndCheckpoints_ShowsResolvedCommitsAndTheOutputCommit()
    {
        var source = Path.Combine(_work, "source");
        Directory.CreateDirectory(Path.Combine(source, "train"));
        await File.WriteAllTextAsync(Path.Combine(source, "train", "part-0.txt"), "tokens\n");
        await Ok("store", "create", "corpus", "--kind", "dataset");
        await Ok("store", "create", "weights", "--kind", "model");
        await Ok("store", "create", "runs", "--kind", "checkpoints");
        var put = await fixture.RunJsonAsync<System.Text.Json.JsonElement>("store", "put", "corpus@main", source, "-m", "v1");
        var inputCommit = put.GetProperty("commit").GetString()!;

        var submitted = await fixture.RunJsonAsync<JobDto>(
            "jobs", "submit", "--input", "corpus@main:train=data", "--save", "out=weights@main", "--checkpoint-repo", "runs",
            "--", "sh", "-c", "mkdir -p out && cp data/part-0.txt out/copy.txt && echo 1 > \"$STRATUM_CHECKPOINT_DIR/step\"");
        Assert.Equal(inputCommit, Assert.Single(submitted.Inputs).Commit);

        var id = submitted.Id.ToString(CultureInfo.InvariantCulture);
        var waited = await fixture.RunAsync("jobs", "wait", id, "--timeout", "60s");
        Assert.True(waited.ExitCode == 0, waited.ToString());

        var shown = await fixture.RunJsonAsync<JobDto>("jobs", "show", id);
        var output = Assert.Single(shown.Outputs);
        var log = await fixture.RunJsonAsync<List<CommitDto>>("store", "log", "weights@main");
        Assert.Equal(log[0].Id, output.Commit);
        Assert.Equal([$"corpus@{inputCommit}"], log[0].Lineage!.Inputs);
        Assert.Equal($"job-{id}", shown.Checkpoints!.Branch);
        Assert.Equal(2, shown.Attempts[0].StoreCommits!.Count);

        var text = await fixture.RunAsync("jobs", "show", id);
        Assert.Contains($"corpus@main:train -> data/ (commit {inputCommit[..12]})", text.Stdout, StringComparison.Ordinal);
        Assert.Contains($"out -> weights@main (commit {output.Commit![..12]})", text.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubmitWithAMissingInputRepository_ExitsWithTheFieldAndCreatesNoJob()
    {
        var before = await fixture.RunJsonAsync<PageDto<JobDto>>("jobs", "list");
        var result = await fixture.RunAsync("jobs", "submit", "--input", "nowhere@main", "--", "true");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("inputs[0].repo", result.Stderr + result.Stdout, StringComparison.Ordinal);
        Assert.Contains("no repository 'nowhere'", result.Stderr + result.Stdout, StringComparison.Ordinal);
        var after = await fixture.RunJsonAsync<PageDto<JobDto>>("jobs", "list");
        Assert.Equal(before.Items.Count, after.Items.Count);
    }

    [Theory]
    [InlineData("imagenet", "imagenet", null, null, null)]
    [InlineData("imagenet@v1", "imagenet", "v1", null, null)]
    [InlineData("imagenet@v1:train/a.bin", "imagenet", "v1", "train/a.bin", null)]
    [InlineData("imagenet:train=data", "imagenet", null, "train", "data")]
    [InlineData("imagenet@main~2:train=data/in", "imagenet", "main~2", "train", "data/in")]
    public void ParseInput_SplitsRepoRefPathAndDirectory(string text, string repo, string? reference, string? path, string? mountAs) =>
        Assert.Equal(new JobInputDto { Repo = repo, Ref = reference, Path = path, MountAs = mountAs }, JobsCommand.ParseInput(text));

    [Theory]
    [InlineData("")]
    [InlineData("@main")]
    [InlineData("imagenet@")]
    [InlineData("imagenet:")]
    [InlineData("imagenet=")]
    public void ParseInput_Malformed_IsACommandLineError(string text) =>
        Assert.Contains("REPO[@REF][:PATH][=DIR]", Assert.Throws<CommandLineException>(() => JobsCommand.ParseInput(text)).Message);

    [Fact]
    public void ParseOutputAndCheckpoints_SplitTheirParts()
    {
        Assert.Equal(new JobOutputDto { Path = "out/model", Repo = "models", Branch = "main" }, JobsCommand.ParseOutput("out/model=models@main"));
        Assert.Contains("PATH=REPO@BRANCH", Assert.Throws<CommandLineException>(() => JobsCommand.ParseOutput("out=models")).Message);
        Assert.Contains("PATH=REPO@BRANCH", Assert.Throws<CommandLineException>(() => JobsCommand.ParseOutput("models@main")).Message);
        Assert.Equal(new JobCheckpointsDto { Repo = "ckpts" }, JobsCommand.ParseCheckpoints("ckpts"));
        Assert.Equal(new JobCheckpointsDto { Repo = "ckpts", Branch = "run-7" }, JobsCommand.ParseCheckpoints("ckpts@run-7"));
        Assert.Throws<CommandLineException>(() => JobsCommand.ParseCheckpoints("ckpts@"));
    }

    private async Task Ok(params string[] args)
    {
        var result = await fixture.RunAsync(args);
        Assert.True(result.ExitCode == 0, $"stratum {string.Join(' ', args)} failed: {result}");
    }
}
