using System.Globalization;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Server;
using Stratum.Server.Tests;

namespace Stratum.Dashboard.Tests;

/// <summary>
/// The usage and cost page, a job's utilisation panel and the store page in real headless Chromium against
/// a real server whose data was made through the API: the numbers on the page are the API's. Each test
/// keeps a screenshot under TestResults/screenshots (or $STRATUM_ARTIFACTS). Skips on a laptop without
/// chromium; fails under CI.
/// </summary>
public sealed class UsageStorePagesTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const float Timeout = 30_000;

    [Fact]
    public async Task UsagePage_DailyChartBudgetsAndAdvice_MatchTheApi()
    {
        if (!ChromiumPresent())
        {
            return;
        }

        await using var server = await TestServer.StartAsync(declareNode: false);
        // One unit of money per core-second, so seconds-long jobs cost whole dollars; vision's budget is
        // far below what its job costs, nlp's far above.
        await server.ApplyAsync("""
            pools:
              - name: paid
                price: {cpuCoreHour: 3600}
            nodes:
              - name: n1
                pool: paid
                cpu: "4"
                memory: 8Gi
            projects:
              - name: vision
                budget: {monthly: 1, currency: USD, thresholds: [0.5, 1.0]}
              - name: nlp
                budget: {monthly: 100000, currency: USD}
            """);
        var vision = await server.SubmitAsync(TestServer.Job("sleep", "2") with { Name = "train-vision", Project = "vision", Resources = new() { Cpu = "1", Memory = "64Mi" } });
        var nlp = await server.SubmitAsync(TestServer.Job("sleep", "1") with { Name = "train-nlp", Project = "nlp", Resources = new() { Cpu = "2", Memory = "64Mi" } });
        await server.WaitForStateAsync(vision.Id, "Succeeded");
        await server.WaitForStateAsync(nlp.Id, "Succeeded");

        await using var browser = await BrowserSession.OpenAsync(server.Server.Address, server.Server.AdminToken, "/ui/usage");
        var page = browser.Page;
        await browser.WaitForPageAsync("usage");
        await page.Locator("#budget-table tr[data-project=nlp]").WaitForAsync();

        var byProject = (await server.Admin.GetFromJsonAsync<UsageReportDto>("/api/v1/usage?by=project&since=30d", TestServer.JsonOptions))!;
        var byDay = (await server.Admin.GetFromJsonAsync<UsageReportDto>("/api/v1/usage?by=day&since=30d", TestServer.JsonOptions))!;
        var advice = (await server.Admin.GetFromJsonAsync<AdviceReportDto>("/api/v1/advice?since=7d", TestServer.JsonOptions))!;
        Assert.True(byProject.Total.Cost > 2, $"two jobs of seconds at a dollar per core-second cost more than $2, not {byProject.Total.Cost}");

        AssertShown((double)byProject.Total.Cost, await Text(page, "[data-testid=usage-cost]"));
        AssertShown(byProject.Total.GpuHours, await Text(page, "[data-testid=usage-gpu-hours]"));
        AssertShown(byProject.Total.CpuHours, await Text(page, "[data-testid=usage-cpu-hours]"));

        // A row per project with its spend against its budget; vision is past 100% and shown red.
        Assert.Equal(byProject.Rows.Count, await page.Locator("#budget-table tbody tr").CountAsync());
        foreach (var row in byProject.Rows)
        {
            var shown = page.Locator($"#budget-table tr[data-project='{row.Key}']");
            AssertShown((double)row.Cost, await Text(page, $"#budget-table tr[data-project='{row.Key}'] td:nth-child(5)"));
            var budget = row.Budget!;
            var meter = shown.Locator(".meter");
            Assert.Equal(budget.Used, double.Parse((await meter.GetAttributeAsync("data-used"))!, CultureInfo.InvariantCulture), 1e-9);
            var amounts = ((await meter.TextContentAsync()) ?? "").Split(" / ");
            AssertShown((double)budget.SpentThisMonth, amounts[0]);
            AssertShown((double)budget.Monthly, amounts[1]);
            Assert.Equal(budget.Used > 1, (await meter.GetAttributeAsync("class"))!.Split(' ').Contains("over"));
        }

        Assert.True(byProject.Rows.Single(r => r.Key == "vision").Budget!.Used > 1, "vision's job costs more than its $1 budget");

        // The stacked columns (uPlot) add up, day by day, to the API's by=day rows: the series drawn at the
        // back of each stack is the running sum of all projects. Today's column holds both projects.
        var chart = page.Locator("#chart-daily-cost");
        var days = ((await chart.GetAttributeAsync("data-days")) ?? "").Split(',');
        var totals = await chart.EvaluateAsync<double[]>("el => el.uplot.data[1]");
        Assert.Equal(days.Length, totals.Length);
        var shownDays = days.Zip(totals).ToDictionary(p => p.First, p => p.Second);
        foreach (var day in byDay.Rows)
        {
            Assert.Equal((double)day.Cost, shownDays[day.Key], 1e-6 * (double)day.Cost + 1e-9);
        }

        Assert.Equal((double)byDay.Total.Cost, shownDays.Values.Sum(), 1e-6 * (double)byDay.Total.Cost);
        var today = Array.IndexOf(days, DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        Assert.True(today >= 0, "today is a column of the chart");
        Assert.Equal(new[] { "nlp", "vision" }, (await chart.EvaluateAsync<string[]>($"el => el.chartSeries.filter(s => s.values[{today}] > 0).map(s => s.label)")).Order());
        Assert.Equal(new[] { "nlp", "vision" }, (await page.Locator("#daily-legend > span").AllTextContentsAsync()).Order());

        Assert.Equal(advice.Recommendations.Count, await page.Locator("#advice-table tbody tr").CountAsync());
        await browser.ScreenshotAsync("usage");
        Assert.Empty(browser.Errors);
    }

    [Fact]
    public async Task JobDetail_ShowsRequestedAmountsAndLiveCpuAndMemory()
    {
        if (!ChromiumPresent())
        {
            return;
        }

        var data = Path.Combine(Path.GetTempPath(), "stratum-dash-job-" + Guid.NewGuid().ToString("N")[..12]);
        // The sampler on a 1 s interval (the fixture's server keeps the 10 s default), as TelemetryServerTests does.
        var server = await StratumServer.StartAsync(new ServerOptions
        {
            DataDirectory = data,
            Port = 0,
            RegisterLocalNode = false,
            SchedulingInterval = TimeSpan.FromMilliseconds(200),
            ReconcileInterval = TimeSpan.FromMilliseconds(100),
            StopGracePeriod = TimeSpan.FromSeconds(2),
            TelemetryInterval = TimeSpan.FromSeconds(1),
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        });
        using var client = new StratumClient(server.Address, server.AdminToken);
        try
        {
            await client.ApplyAsync(new ApplyRequest { Document = "pools:\n  - name: local\nnodes:\n  - name: n1\n    pool: local\n    cpu: \"8\"\n    memory: 8Gi\n" });
            var job = await client.SubmitJobAsync(new SubmitJobRequest
            {
                Name = "sleeper", Command = ["sleep", "300"], Resources = new ResourcesDto { Cpu = "2", Memory = "128Mi" },
            });
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((await client.GetJobUsageAsync(job.Id)).Samples < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "the sampler stored no two samples of the running job in 60 s");
                await Task.Delay(250);
            }

            await using var browser = await BrowserSession.OpenAsync(server.Address, server.AdminToken, $"/ui/jobs/{job.Id}");
            var page = browser.Page;
            await browser.WaitForPageAsync("jobs");
            await page.Locator($"#job-panel[data-job='{job.Id}']").WaitForAsync();
            var usage = await client.GetJobUsageAsync(job.Id);

            Assert.Equal("2", await Text(page, "[data-testid=job-cpu-requested]"));
            Assert.Equal("128.0 MiB", await Text(page, "[data-testid=job-memory-requested]"));
            Assert.Equal(2, usage.CpuCoresRequested);
            Assert.Equal(128L << 20, usage.MemoryBytesRequested);
            Assert.Equal("0", await Text(page, "[data-testid=job-gpus]"));
            Assert.NotEqual("not measured", await Text(page, "[data-testid=job-memory-used]"));
            // uPlot draws "used" from the stored samples and "requested" as the job's request across the window.
            Assert.True(await page.Locator("#chart-job-cpu").EvaluateAsync<int>("el => el.uplot.data[1].filter(v => v !== null).length") >= 1, "the CPU chart has samples");
            Assert.Equal(new[] { "used", "requested" }, await page.Locator("#chart-job-memory").EvaluateAsync<string[]>("el => el.uplot.series.slice(1).map(s => s.label)"));
            Assert.Equal(new[] { 128.0 / 1024 }, await page.Locator("#chart-job-memory").EvaluateAsync<double[]>("el => [...new Set(el.uplot.data[2])]"));
            Assert.Contains("selected", await page.Locator($"#jobs-table tr[data-job='{job.Id}']").GetAttributeAsync("class"), StringComparison.Ordinal);

            // Live: without a reload the panel shows more samples than the API had when the page first drew.
            var first = long.Parse((await page.Locator("#job-panel").GetAttributeAsync("data-samples"))!, CultureInfo.InvariantCulture);
            await page.WaitForFunctionAsync($"() => Number(document.getElementById('job-panel').dataset.samples) > {first}");
            var later = await client.GetJobUsageAsync(job.Id);
            Assert.True(later.Samples > first, $"the API has {later.Samples} samples, the page first showed {first}");
            Assert.InRange(later.MemoryBytesMax!.Value, 1, 128L << 20);

            await browser.ScreenshotAsync("job-detail");
            Assert.Empty(browser.Errors);
            await client.CancelJobAsync(job.Id);
            deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await client.GetJobAsync(job.Id)).State != "Cancelled" && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
        finally
        {
            await server.StopAsync();
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Fact]
    public async Task StorePage_RepositoriesRefsAndCommits_MatchTheApi()
    {
        if (!ChromiumPresent())
        {
            return;
        }

        await using var server = await TestServer.StartAsync(declareNode: false);
        await server.ApplyAsync("projects:\n  - name: vision\n");
        using var client = new StratumClient(server.Server.Address, server.Server.AdminToken);
        await client.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "images", Kind = "dataset", Project = "vision" });
        await client.CreateRepositoryAsync(new CreateRepositoryRequest { Name = "weights", Kind = "model" });
        var payload = new byte[300_000];
        new Random(7).NextBytes(payload);
        await client.PutObjectAsync("images", "main", "train/a.bin", new MemoryStream(payload));
        var first = await client.CommitAsync("images", "main", new CommitRequestDto { Message = "first import" });
        // The same bytes again under another name: logical grows, stored does not (dedup).
        await client.PutObjectAsync("images", "main", "train/copy.bin", new MemoryStream(payload));
        await client.PutObjectAsync("images", "main", "labels.csv", new MemoryStream("a,1\nb,2\n"u8.ToArray()));
        var second = await client.CommitAsync("images", "main", new CommitRequestDto
        {
            Message = "add labels and a copy", Lineage = new LineageDto("17", [$"images@{first.Id}"]),
        });
        await client.CreateTagAsync("images", "v1", "main");
        await client.CreateBranchAsync("images", "experiment", first.Id);

        await using var browser = await BrowserSession.OpenAsync(server.Server.Address, server.Server.AdminToken, "/ui/store");
        var page = browser.Page;
        await browser.WaitForPageAsync("store");
        await page.Locator("#repos-table tr[data-repo=weights]").WaitForAsync();

        var repos = await client.ListRepositoriesAsync();
        Assert.Equal(repos.Count, await page.Locator("#repos-table tbody tr").CountAsync());
        foreach (var repo in repos)
        {
            var du = await client.DiskUsageAsync(repo.Name);
            var cells = await page.Locator($"#repos-table tr[data-repo='{repo.Name}'] td").AllTextContentsAsync();
            Assert.Equal(new[] { repo.Name, repo.Kind, repo.Project ?? "admins", Bytes(du.LogicalBytes), Bytes(du.StoredBytes) }, cells.Take(5));
            Assert.Equal(du.Commits.ToString(CultureInfo.InvariantCulture), cells[6]);
        }

        var images = await client.DiskUsageAsync("images");
        Assert.Equal(2 * payload.Length + 8, images.LogicalBytes);
        Assert.True(images.StoredBytes < images.LogicalBytes, $"stored {images.StoredBytes} is less than logical {images.LogicalBytes}: the copy is deduplicated");

        await page.Locator("#repos-table tr[data-repo=images] a").ClickAsync();
        await page.Locator("#commits-table tr[data-commit]").Nth(1).WaitForAsync();
        Assert.Equal(new[] { "experiment", "main" }, (await page.Locator("#branches-table tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.ref)")).Order());
        Assert.Equal("v1", await page.Locator("#tags-table tbody tr").GetAttributeAsync("data-ref"));
        var branches = await client.ListBranchesAsync("images");
        Assert.Equal(first.Id, branches.Single(b => b.Name == "experiment").CommitId);
        Assert.Equal(first.Id[..12], await Text(page, "#branches-table tr[data-ref=experiment] code"));

        var log = await client.LogAsync("images", "main");
        Assert.Equal(log.Select(c => c.Id), await page.Locator("#commits-table tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.commit)"));
        var newest = page.Locator($"#commits-table tr[data-commit='{second.Id}'] td");
        var shown = await newest.AllTextContentsAsync();
        Assert.Equal("add labels and a copy", shown[1]);
        Assert.Equal(log[0].Author, shown[2]);
        Assert.Equal(log[0].Files.ToString(CultureInfo.InvariantCulture), shown[4]);
        Assert.Equal(Bytes(log[0].Bytes), shown[5]);
        Assert.Equal($"job 17 ← images@{first.Id}", shown[6]);

        // Another ref: the experiment branch stops at the first import (after the repository's initial commit).
        var experiment = await client.LogAsync("images", "experiment");
        Assert.Equal(first.Id, experiment[0].Id);
        Assert.Equal(log.Count - 1, experiment.Count);
        await page.Locator("#repo-ref").SelectOptionAsync("experiment");
        try
        {
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#commits-table tbody tr').length === " + experiment.Count);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the experiment branch's log did not show: '{await Text(page, "#updated")}', ref {await page.Locator("#repo-ref").InputValueAsync()}, rows {await page.Locator("#commits-table tbody tr").CountAsync()}, errors: {string.Join("; ", browser.Errors)}");
        }
        Assert.Equal(experiment.Select(c => c.Id), await page.Locator("#commits-table tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.commit)"));

        await browser.ScreenshotAsync("store");
        Assert.Empty(browser.Errors);
    }

    private static bool ChromiumPresent()
    {
        if (File.Exists(Chromium))
        {
            return true;
        }

        Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "chromium is missing under CI: .ci/run must apt-get install chromium");
        return false;
    }

    /// <summary>
    /// A number the page shows to two decimals in en-US ("$1,234.57", "12.5", "$0.10 (3%)" reads 0.10) equals
    /// the API's within half a cent: JavaScript rounds the binary double, .NET the decimal, so ties may differ.
    /// </summary>
    private static void AssertShown(double expected, string shown)
    {
        var number = new string(shown.SkipWhile(c => !char.IsAsciiDigit(c)).TakeWhile(c => char.IsAsciiDigit(c) || c is '.' or ',').Where(c => c != ',').ToArray());
        Assert.True(number.Length > 0, $"'{shown}' holds no number; expected {expected}");
        Assert.Equal(expected, double.Parse(number, CultureInfo.InvariantCulture), 0.0051);
        if (shown.Contains('$', StringComparison.Ordinal))
        {
            Assert.StartsWith("$", shown.TrimStart());
        }
    }

    private static async Task<string> Text(IPage page, string selector) => (await page.Locator(selector).TextContentAsync())?.Trim() ?? "";

    /// <summary>As the page writes sizes: whole bytes, else one decimal of the largest binary unit.</summary>
    private static string Bytes(long count)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double value = count;
        var unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{count} B" : value.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    /// <summary>Chromium, one page signed in with the token on <c>path</c>, and the page's script errors.</summary>
    private sealed class BrowserSession : IAsyncDisposable
    {
        private readonly IPlaywright _playwright;
        private readonly IBrowser _browser;

        private BrowserSession(IPlaywright playwright, IBrowser browser, IPage page)
        {
            _playwright = playwright;
            _browser = browser;
            Page = page;
            page.PageError += (_, error) => Errors.Add(error);
        }

        public IPage Page { get; }

        public List<string> Errors { get; } = [];

        public static async Task<BrowserSession> OpenAsync(Uri server, string token, string path)
        {
            var playwright = await Playwright.CreateAsync();
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = Chromium,
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--lang=en-US"],
            });
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1360, Height = 900 }, Locale = "en-US" });
            page.SetDefaultTimeout(Timeout);
            var session = new BrowserSession(playwright, browser, page);
            await page.GotoAsync(new Uri(server, path).ToString());
            await page.Locator("#token").FillAsync(token);
            await page.Locator("#signin-button").ClickAsync();
            return session;
        }

        public async Task WaitForPageAsync(string name)
        {
            try
            {
                await Page.WaitForSelectorAsync($"body[data-loaded='{name}']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
            }
            catch (TimeoutException)
            {
                Assert.Fail($"the {name} page did not load: '{await Page.Locator("#updated").TextContentAsync()}', page errors: {string.Join("; ", Errors)}");
            }
        }

        public async Task ScreenshotAsync(string name)
        {
            var directory = Environment.GetEnvironmentVariable("STRATUM_ARTIFACTS") is { Length: > 0 } set ? set : Path.Combine(RepositoryRoot(), "TestResults", "screenshots");
            Directory.CreateDirectory(directory);
            await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(directory, name + ".png"), FullPage = true });
        }

        public async ValueTask DisposeAsync()
        {
            await _browser.DisposeAsync();
            _playwright.Dispose();
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
}
