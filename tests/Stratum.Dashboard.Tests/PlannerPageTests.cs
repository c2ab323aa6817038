using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Stratum.Server.Tests;

namespace Stratum.Dashboard.Tests;

/// <summary>
/// The planner page in real headless Chromium against a real server: the numbers it shows are the ones
/// POST /api/v1/plan/train returns for the same inputs, and bad input shows the server's explanation.
/// Skips on a laptop without chromium; fails under CI.
/// </summary>
public sealed class PlannerPageTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const float Timeout = 30_000;

    [Fact]
    public async Task Planner_TrainingForm_ShowsThePlanTheApiReturns()
    {
        if (!File.Exists(Chromium))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "chromium is missing under CI: .ci/run must apt-get install chromium");
            return;
        }

        await using var server = await TestServer.StartAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--lang=en-US"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1360, Height = 900 }, Locale = "en-US" });
        page.SetDefaultTimeout(Timeout);
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);

        await page.GotoAsync(server.Server.Address.ToString());
        await page.Locator("#token").FillAsync(server.Server.AdminToken);
        await page.Locator("#signin-button").ClickAsync();
        await page.WaitForSelectorAsync("body[data-loaded='overview']");
        await page.Locator("nav a[data-route=planner]").ClickAsync();
        try
        {
            await page.WaitForSelectorAsync("body[data-loaded='planner']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the planner page did not load: '{await page.Locator("#updated").TextContentAsync()}', page errors: {string.Join("; ", errors)}");
        }

        // The GPU list is the catalog's.
        var catalog = await server.Admin.GetFromJsonAsync<JsonElement>("/api/v1/plan/catalog");
        var known = catalog.GetProperty("accelerators").EnumerateArray().Select(a => a.GetProperty("name").GetString()!).ToList();
        Assert.Equal(string.Join('\n', known), await page.Locator("#plan-gpu option").EvaluateAllAsync<string>("options => options.map(o => o.value).join('\\n')"));

        // Bad input: the server's explanation, naming the field, and no result.
        await page.Locator("#plan-params").FillAsync("176e9");
        await page.Locator("#plan-tokens").FillAsync("-5");
        await page.Locator("#plan-gpus").FillAsync("384");
        await page.Locator("#plan-submit").ClickAsync();
        await page.Locator("#plan-error").Filter(new LocatorFilterOptions { HasText = "tokens" }).WaitForAsync();
        Assert.True(await page.Locator("#plan-result").IsHiddenAsync());

        // BLOOM-176B on 384 A100-80GB.
        await page.Locator("#plan-tokens").FillAsync("366e9");
        await page.Locator("#plan-gpu").SelectOptionAsync("nvidia-a100-80gb");
        await page.Locator("#plan-submit").ClickAsync();
        await page.WaitForSelectorAsync("body[data-planned]", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });

        using var response = await server.Admin.PostAsJsonAsync("/api/v1/plan/train", new { @params = 176e9, tokens = 366e9, gpu = "nvidia-a100-80gb", precision = "bf16", gpus = 384 });
        response.EnsureSuccessStatusCode();
        var plan = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(Math.Round(plan.GetProperty("gpuHours").GetDouble()), Digits(await page.Locator("[data-testid=plan-gpu-hours]").TextContentAsync()));
        // Shown to one decimal: equal within half of the last digit (JavaScript and .NET round ties differently).
        var mfuText = await page.Locator("[data-testid=plan-mfu]").TextContentAsync();
        Assert.EndsWith("%", mfuText);
        Assert.Equal(plan.GetProperty("mfu").GetDouble() * 100, Leading(mfuText), 0.051);
        Assert.Equal(plan.GetProperty("memoryPerGpuGb").GetDouble(), Leading(await page.Locator("[data-testid=plan-memory]").TextContentAsync()), 0.051);
        Assert.Equal("384", await page.Locator("[data-testid=plan-gpus]").TextContentAsync());

        var costs = plan.GetProperty("costs").EnumerateArray().ToList();
        Assert.NotEmpty(costs);
        Assert.Equal(costs.Count, await page.Locator("#plan-costs tbody tr").CountAsync());
        // The cost chart holds one bar per option, each the API's total, in the series of its deadline verdict.
        var bars = await page.Locator("#chart-plan-costs").EvaluateAsync<string[]>(
            "el => el.uplot.data.slice(1).flatMap((values, k) => values.map((v, i) => v === null ? null : el.uplot.series[k + 1].label + '|' + i + '|' + v)).filter(Boolean)");
        Assert.Equal(costs.Count, bars.Length);
        foreach (var bar in bars.Select(b => b.Split('|')))
        {
            var cost = costs[int.Parse(bar[1], CultureInfo.InvariantCulture)];
            Assert.Equal(cost.GetProperty("totalUsd").GetDouble(), double.Parse(bar[2], CultureInfo.InvariantCulture), 1e-6);
            Assert.Equal(cost.GetProperty("meetsDeadline").GetBoolean() ? "meets deadline" : "misses deadline", bar[0]);
        }

        var first = costs[0].GetProperty("option").GetString()!;
        Assert.Contains(first, await page.Locator("#plan-costs tbody tr").First.TextContentAsync(), StringComparison.Ordinal);
        Assert.True(await page.Locator("#plan-working li").CountAsync() >= 5, "the page lists the plan's formulas and assumptions");
        Assert.Empty(errors);
    }

    /// <summary>The first number in a shown value such as "54.1%" or "58.6 / 80".</summary>
    private static double Leading(string? text) =>
        double.Parse(new string((text ?? "").TakeWhile(c => char.IsAsciiDigit(c) || c is '.' or ',').Where(c => c != ',').ToArray()), CultureInfo.InvariantCulture);

    private static double Digits(string? text) => double.Parse(new string((text ?? "").Where(char.IsAsciiDigit).ToArray()), CultureInfo.InvariantCulture);
}
