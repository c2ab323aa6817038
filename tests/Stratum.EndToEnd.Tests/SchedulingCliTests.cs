using Stratum.Cli.Commands;
using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary>Node selectors, estimated starts and cohorts through the real program.</summary>
public sealed class SchedulingCliTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 13, 45, 0, TimeSpan.Zero);

    [Fact]
    public async Task JobsSubmit_NodeSelectorNoNodeHas_ShowsTheSelectorAndWhyItWaits()
    {
        var label = "rack-" + Guid.NewGuid().ToString("N")[..8];
        var submitted = await fixture.RunJsonAsync<JobDto>("jobs", "submit", "--cpus", "100m", "--memory", "64Mi", "--node-selector", $"rack={label}", "--", "true");

        var shown = await fixture.RunAsync("jobs", "show", submitted.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var why = await PollAsync(
            () => fixture.RunAsync("jobs", "why", submitted.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            r => r.Stdout.Contains("node selector", StringComparison.Ordinal));

        Assert.Equal(label, submitted.NodeSelector["rack"]);
        Assert.Contains($"rack={label}", shown.Stdout, StringComparison.Ordinal);
        Assert.Contains($"rack={label}", why.Stdout, StringComparison.Ordinal);
        Assert.Contains("estimated start: unknown", why.Stdout, StringComparison.Ordinal);
        await fixture.RunAsync("jobs", "cancel", submitted.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task JobsSubmit_NodeSelectorWithoutEquals_FailsNamingTheOption()
    {
        var result = await fixture.RunAsync("jobs", "submit", "--node-selector", "rack", "--", "true");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--node-selector 'rack' is not KEY=VALUE", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(35, "14:20 UTC (in 35 min)")]
    [InlineData(0.5, "13:45 UTC (in 1 min)")]
    [InlineData(135, "16:00 UTC (in 2 h 15 min)")]
    [InlineData(-5, "13:40 UTC (now)")]
    [InlineData(11 * 60, "2026-11-23 00:45 UTC (in 11 h 0 min)")]
    public void EstimatedStart_Known_SaysWhenAndHowLong(double minutesAhead, string expected) =>
        Assert.Equal(expected, JobsCommand.EstimatedStart(Now + TimeSpan.FromMinutes(minutesAhead), Now));

    [Fact]
    public void EstimatedStart_Unknown_SaysSo() => Assert.Equal("unknown", JobsCommand.EstimatedStart(null, Now));

    [Fact]
    public void Cohort_WithLimits_NamesThem() =>
        Assert.Equal(
            "research (borrow up to gpus 8; lend gpus 4)",
            ProjectsCommand.Cohort(new QuotaDto { Gpus = 8, Cohort = "research", BorrowingLimit = new QuotaDto { Gpus = 8 }, LendingLimit = new QuotaDto { Gpus = 4 } }));

    [Fact]
    public void Cohort_NoLimits_IsUnlimitedBorrowingAndLendingAll() =>
        Assert.Equal("research (borrow any idle; lend all unused)", ProjectsCommand.Cohort(new QuotaDto { Cohort = "research" }));

    [Fact]
    public void Cohort_None_IsADash() => Assert.Equal("-", ProjectsCommand.Cohort(new QuotaDto { Gpus = 8 }));

    private static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var last = await read();
        while (!done(last))
        {
            Assert.True(DateTime.UtcNow < deadline, $"gave up waiting; last seen: {last}");

            // Scheduling runs in another process on its own interval; there is nothing to await but time.
            await Task.Delay(500);
            last = await read();
        }

        return last;
    }
}
