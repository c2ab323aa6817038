using System.Net.Http.Json;
using Microsoft.Playwright;
using Stratum.Client.Contracts;
using Stratum.Server.Tests;

namespace Stratum.Dashboard.Tests;

/// <summary>
/// The dashboard in real headless Chromium (Debian's chromium package) driven by Playwright, whose
/// bundled driver runs offline: no browser download. Skips on a laptop without chromium; fails under CI.
/// Set STRATUM_SCREENSHOT=1 to write docs/images/dashboard.png.
/// </summary>
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const float Timeout = 30_000;

    [Fact]
    public async Task Dashboard_SignInWithToken_OverviewAndJobsMatchTheApi()
    {
        if (!File.Exists(Chromium))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "chromium is missing under CI: .ci/run must apt-get install chromium");
            return;
        }

        await using var server = await TestServer.StartAsync();
        // One job holds every core of the only node, two more wait behind it, one has finished.
        var done = await server.SubmitAsync(TestServer.Job("true") with { Name = "finished", Project = "default" });
        await server.WaitForStateAsync(done.Id, "Succeeded");
        var holder = await server.SubmitAsync(TestServer.Job("sh", "-c", "echo hello from the holder; sleep 60") with { Name = "holder", Resources = new() { Cpu = "4", Memory = "256Mi" } });
        await server.WaitForStateAsync(holder.Id, "Running");
        var waiting = new[]
        {
            await server.SubmitAsync(TestServer.Job("true") with { Name = "waiter-a" }),
            await server.SubmitAsync(TestServer.Job("true") with { Name = "waiter-b" }),
        };
        await server.WaitForJobAsync(waiting[1].Id, j => j.State == "Pending" && j.Reason.Length > 0);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1360, Height = 900 } });
        page.SetDefaultTimeout(Timeout);
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);

        await page.GotoAsync(server.Server.Address.ToString());
        await page.Locator("#token").FillAsync(server.Server.AdminToken);
        await page.Locator("#signin-button").ClickAsync();
        await page.WaitForSelectorAsync("body[data-loaded='overview']");

        var jobs = (await server.Admin.GetFromJsonAsync<PageDto<JobDto>>("/api/v1/jobs?limit=1000", TestServer.JsonOptions))!.Items;
        var nodes = (await server.Admin.GetFromJsonAsync<List<NodeDto>>("/api/v1/nodes", TestServer.JsonOptions))!;
        Assert.Equal(jobs.Count(j => j.State is "Pending" or "Preempted").ToString(), await page.Locator("[data-testid=queued]").TextContentAsync());
        Assert.Equal(jobs.Count(j => j.State == "Running").ToString(), await page.Locator("[data-testid=running]").TextContentAsync());
        Assert.Equal(nodes.Sum(n => n.Allocated.Gpus).ToString(), await page.Locator("[data-testid=gpus-allocated]").TextContentAsync());
        Assert.Equal($"{nodes.Count(n => n.State == "Ready")} / {nodes.Count}", await page.Locator("[data-testid=nodes-ready]").TextContentAsync());
        Assert.Equal("2", await page.Locator("[data-testid=queued]").TextContentAsync());
        await page.Locator("#usage-table tr[data-project=default]").WaitForAsync();
        // The jobs-by-state chart (uPlot) was handed one series per state, each the API's count of that state.
        var states = await page.Locator("#chart-states").EvaluateAsync<string[]>(
            "el => el.uplot.series.slice(1).map((s, i) => s.label + '=' + el.uplot.data[i + 1].find(v => v !== null))");
        Assert.Equal(jobs.GroupBy(j => j.State).Select(g => $"{g.Key}={g.Count()}").Order(), states.Order());

        // Queue depth over time (uPlot, from the jobs' own times): now two queued and one running.
        var depth = await page.Locator("#chart-queue").EvaluateAsync<double[]>("el => el.uplot.series.slice(1).map((s, k) => el.uplot.data[k + 1].at(-1))");
        Assert.Equal(new double[] { 2, 1 }, depth);

        if (Environment.GetEnvironmentVariable("STRATUM_SCREENSHOT") is "1" or "true")
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(RepositoryRoot(), "docs", "images", "dashboard.png") });
        }

        await Screenshot(page, "overview");
        // The dark theme redraws the charts in its colours.
        var lightKey = await page.Locator("#chart-states").GetAttributeAsync("data-chart-key");
        await page.Locator("#theme").ClickAsync();
        await page.WaitForFunctionAsync($"() => document.getElementById('chart-states').dataset.chartKey !== {System.Text.Json.JsonSerializer.Serialize(lightKey)}");
        await Screenshot(page, "overview-dark");
        await page.Locator("#theme").ClickAsync();

        // Projects: quota against use, running and queued counts, as the API has them.
        await page.Locator("nav a[data-route=projects]").ClickAsync();
        await page.WaitForSelectorAsync("body[data-loaded='projects']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
        var projects = (await server.Admin.GetFromJsonAsync<List<ProjectDto>>("/api/v1/projects", TestServer.JsonOptions))!;
        Assert.Equal(projects.Count, await page.Locator("#projects-table tbody tr").CountAsync());
        foreach (var project in projects)
        {
            var cells = await page.Locator($"#projects-table tr[data-project='{project.Name}'] td").AllTextContentsAsync();
            Assert.Equal((project.RunningJobs ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture), cells[4]);
            Assert.Equal((project.QueuedJobs ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture), cells[5]);
        }

        Assert.Equal("1", (await page.Locator("#projects-table tr[data-project=default] td").AllTextContentsAsync())[4]);
        Assert.Equal("2", (await page.Locator("#projects-table tr[data-project=default] td").AllTextContentsAsync())[5]);

        // Fair share, as /api/v1/fair-share has it: the holder's 4 cores are all of the node's, so default's dominant
        // share is 1 and its penalty half the weight; no job held a GPU, so nobody has decayed usage.
        var fair = (await server.Admin.GetFromJsonAsync<Stratum.Server.Api.FairShareDto>("/api/v1/fair-share", TestServer.JsonOptions))!;
        Assert.Equal(projects.Select(p => p.Name).Order(), fair.Projects.Select(p => p.Project).Order());
        foreach (var share in fair.Projects)
        {
            var row = page.Locator($"#projects-table tr[data-project='{share.Project}']");
            Assert.Equal(share.DecayedGpuHours, double.Parse((await row.GetAttributeAsync("data-decayed-gpu-hours"))!, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(share.UsageShare, double.Parse((await row.GetAttributeAsync("data-usage-share"))!, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(share.Penalty!.Value, double.Parse((await row.GetAttributeAsync("data-penalty"))!, System.Globalization.CultureInfo.InvariantCulture), 9);
        }

        Assert.Equal(5, fair.Projects.Single(p => p.Project == "default").Penalty!.Value, 9);
        // The chart was handed each project's entitlement and decayed-usage share, in percent.
        var drawn = await page.Locator("#chart-fair-share").EvaluateAsync<double[][]>("el => el.chartSeries.map((s) => s.values)");
        var ordered = (await page.Locator("#projects-table tbody tr").EvaluateAllAsync<string[]>("rows => rows.map((r) => r.dataset.project)"))
            .Select(name => fair.Projects.Single(p => p.Project == name)).ToList();
        Assert.Equal(ordered.Select(p => p.Entitlement * 100), drawn[0]);
        Assert.Equal(ordered.Select(p => p.UsageShare * 100), drawn[1]);
        await Screenshot(page, "projects");

        await page.Locator("nav a[data-route=jobs]").ClickAsync();
        await page.WaitForSelectorAsync("body[data-loaded='jobs']");
        var rows = page.Locator("#jobs-table tbody tr");
        Assert.Equal(jobs.Count, await rows.CountAsync());
        foreach (var job in jobs)
        {
            var row = page.Locator($"#jobs-table tr[data-job='{job.Id}']");
            Assert.Equal(job.State, await row.GetAttributeAsync("data-state"));
            Assert.Contains(job.Name, await row.TextContentAsync(), StringComparison.Ordinal);
        }

        var why = await server.Admin.GetFromJsonAsync<JobWhyDto>($"/api/v1/jobs/{waiting[1].Id}/why", TestServer.JsonOptions);
        Assert.Contains(why!.Reason, await page.Locator($"#jobs-table tr[data-job='{waiting[1].Id}'] td.reason").TextContentAsync(), StringComparison.Ordinal);

        await page.Locator($"#jobs-table tr[data-job='{holder.Id}'] a.logs-link").ClickAsync();
        await page.Locator("#logs").Filter(new LocatorFilterOptions { HasText = "hello from the holder" }).WaitForAsync();

        await page.Locator("nav a[data-route=alerts]").ClickAsync();
        await page.WaitForSelectorAsync("body[data-loaded='alerts']");
        Assert.Contains("No alert rules", await page.Locator("#alerts-summary").TextContentAsync(), StringComparison.Ordinal);
        Assert.Empty(errors);

        await server.Admin.PostAsync($"/api/v1/jobs/{holder.Id}/cancel", null);
    }

    /// <summary>A full-page screenshot kept as a test artifact under TestResults/screenshots (or $STRATUM_ARTIFACTS).</summary>
    private static async Task Screenshot(IPage page, string name)
    {
        var directory = Environment.GetEnvironmentVariable("STRATUM_ARTIFACTS") is { Length: > 0 } set ? set : Path.Combine(RepositoryRoot(), "TestResults", "screenshots");
        Directory.CreateDirectory(directory);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(directory, name + ".png"), FullPage = true });
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Stratum.slnx")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Stratum.slnx not found above " + AppContext.BaseDirectory);
    }
}
