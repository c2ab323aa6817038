using System.Globalization;
using System.Text.Json;
using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary>
/// The server's own history replayed in the simulator: real short jobs on a real server, exported with
/// <c>stratum jobs export</c>, read back by <c>stratum simulate --trace</c>.
/// </summary>
public sealed class JobsExportTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Theory]
    [InlineData("jsonl")]
    [InlineData("csv")]
    public async Task Export_ThenSimulate_ReplaysTheJobsThatRanWithTheirDurations(string format)
    {
        var project = "hist-" + format;
        await fixture.RunAsync("projects", "create", project);
        var sleeps = new[] { "1", "2", "3" };
        var submitted = new List<JobDto>();
        foreach (var seconds in sleeps)
        {
            submitted.Add(await fixture.RunJsonAsync<JobDto>("jobs", "submit", "--project", project, "--cpus", "100m", "--memory", "64Mi", "--", "sleep", seconds));
        }

        // One that never runs (cancelled while it waits for a node nobody has) must not appear.
        var never = await fixture.RunJsonAsync<JobDto>("jobs", "submit", "--project", project, "--cpus", "100m", "--memory", "64Mi", "--node-selector", "rack=nowhere", "--", "true");
        await fixture.RunAsync("jobs", "cancel", Id(never));

        var ran = new List<double>();
        foreach (var job in submitted)
        {
            var waited = await fixture.RunAsync("jobs", "wait", Id(job), "--timeout", "60s");
            Assert.True(waited.ExitCode == 0, waited.ToString());
            var done = await fixture.RunJsonAsync<JobDto>("jobs", "show", Id(job));
            Assert.Equal("Succeeded", done.State);
            ran.Add((done.EndedAt!.Value - done.StartedAt!.Value).TotalSeconds);
        }

        var file = Path.Combine(fixture.DataDirectory, $"history.{format}");
        var export = await fixture.RunAsync("jobs", "export", "--since", "1h", "--file", file);
        Assert.True(export.ExitCode == 0, export.ToString());
        var lines = File.ReadAllLines(file).Where(l => l.Contains(project, StringComparison.Ordinal)).ToList();
        Assert.Equal(sleeps.Length, lines.Count);
        Assert.DoesNotContain(File.ReadAllLines(file), l => l.Contains($",{never.Id},", StringComparison.Ordinal) || l.Contains($"\"id\":{never.Id},", StringComparison.Ordinal));

        // Only this project's rows, so the replay's figures are this test's alone.
        var mine = Path.Combine(fixture.DataDirectory, $"mine.{format}");
        File.WriteAllLines(mine, format == "csv" ? [File.ReadLines(file).First(), .. lines] : lines);
        var simulated = await fixture.RunAsync("simulate", "--trace", mine, "--nodes", "4", "--gpus-per-node", "8", "--policy", "fifo", "--output", "json");
        Assert.True(simulated.ExitCode == 0, simulated.ToString());
        using var json = JsonDocument.Parse(simulated.Stdout);
        var result = json.RootElement.ValueKind == JsonValueKind.Array ? json.RootElement[0] : json.RootElement;
        Assert.Equal(sleeps.Length, result.GetProperty("jobs").GetInt32());
        Assert.Equal(sleeps.Length, result.GetProperty("finished").GetInt32());

        // CPU-only jobs never queue in the replay, so each completes in the time it actually ran.
        var average = ran.Average();
        Assert.InRange(result.GetProperty("avgJctSeconds").GetDouble(), average * 0.9, average * 1.1);
        Assert.InRange(average, 1.5, 10);
    }

    [Fact]
    public async Task Export_BadFormatOrSince_NamesTheProblem()
    {
        var badSince = await fixture.RunAsync("jobs", "export", "--since", "forever");
        Assert.NotEqual(0, badSince.ExitCode);
        Assert.Contains("since", badSince.Stderr, StringComparison.Ordinal);

        var badFormat = await fixture.RunAsync("jobs", "export", "--format", "xml");
        Assert.NotEqual(0, badFormat.ExitCode);
    }

    private static string Id(JobDto job) => job.Id.ToString(CultureInfo.InvariantCulture);
}
