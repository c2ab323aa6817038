using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Server;
using Stratum.Server.Tests;

namespace Stratum.Dashboard.Tests;

/// <summary>
/// The charting library (uPlot, installed from npm by the build and embedded in the server): it is served
/// without a token under a content-hashed URL that may be cached for good, and in real headless Chromium
/// it paints a known series: each bar's middle on the canvas has its series' colour, the space above it
/// does not. Skips the browser part on a laptop without chromium; fails under CI.
/// </summary>
public sealed class ChartLibraryTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const float Timeout = 30_000;

    [Fact]
    public async Task ChartLibrary_IsEmbeddedAndServedWithAHashedLongLivedUrl()
    {
        await using var server = await TestServer.StartAsync(declareNode: false);
        using var anonymous = server.Client(null);
        var page = await anonymous.GetStringAsync("/");
        foreach (var asset in new[] { "uPlot.iife.min.js", "uPlot.min.css", "app.js", "app.css" })
        {
            var match = Regex.Match(page, $"\"/ui/assets/{Regex.Escape(asset)}\\?v=([0-9a-f]{{16}})\"");
            Assert.True(match.Success, $"index.html links {asset} with its content hash: {page[..Math.Min(600, page.Length)]}");

            using var hashed = await anonymous.GetAsync($"/ui/assets/{asset}?v={match.Groups[1].Value}");
            Assert.Equal(HttpStatusCode.OK, hashed.StatusCode);
            Assert.Equal("public, max-age=31536000, immutable", hashed.Headers.CacheControl?.ToString());
            Assert.Equal($"\"{match.Groups[1].Value}\"", hashed.Headers.ETag?.Tag);
            Assert.Equal(asset.EndsWith(".js", StringComparison.Ordinal) ? "text/javascript" : "text/css", hashed.Content.Headers.ContentType?.MediaType);

            // An old or missing hash gets the revalidating answer: a cached copy never outlives a new build.
            using var stale = await anonymous.GetAsync($"/ui/assets/{asset}?v=0000000000000000");
            Assert.Equal("no-cache", stale.Headers.CacheControl?.ToString());
        }

        var library = await anonymous.GetByteArrayAsync("/ui/assets/uPlot.iife.min.js");
        Assert.Contains("uPlot", Encoding.UTF8.GetString(library), StringComparison.Ordinal);
        Assert.True(library.Length > 20_000, $"the minified library is embedded whole ({library.Length} bytes)");

        // Compressed for a browser that accepts it, to the same bytes, under its own ETag.
        foreach (var encoding in new[] { "br", "gzip" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/ui/assets/uPlot.iife.min.js");
            request.Headers.TryAddWithoutValidation("Accept-Encoding", $"{encoding}, identity;q=0.5");
            using var response = await anonymous.SendAsync(request);
            Assert.Equal(encoding, response.Content.Headers.ContentEncoding.Single());
            Assert.Contains("Accept-Encoding", response.Headers.Vary);
            var compressed = await response.Content.ReadAsByteArrayAsync();
            Assert.True(compressed.Length < library.Length / 2, $"{encoding}: {compressed.Length} of {library.Length} bytes");
            using var input = new MemoryStream(compressed);
            using Stream decompressor = encoding == "br" ? new BrotliStream(input, CompressionMode.Decompress) : new GZipStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            await decompressor.CopyToAsync(output);
            Assert.Equal(library, output.ToArray());
            Assert.EndsWith($"-{encoding}\"", response.Headers.ETag!.Tag, StringComparison.Ordinal);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/nodes")).StatusCode);
    }

    [Fact]
    public async Task JobsByStateChart_PaintsEachBarInItsSeriesColour()
    {
        if (!File.Exists(Chromium))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "chromium is missing under CI: .ci/run must apt-get install chromium");
            return;
        }

        // A known series: one succeeded, one running (holding every core of the only node), two pending.
        await using var server = await TestServer.StartAsync();
        var done = await server.SubmitAsync(TestServer.Job("true") with { Name = "finished" });
        await server.WaitForStateAsync(done.Id, "Succeeded");
        var holder = await server.SubmitAsync(TestServer.Job("sleep", "60") with { Name = "holder", Resources = new() { Cpu = "4", Memory = "256Mi" } });
        await server.WaitForStateAsync(holder.Id, "Running");
        await server.SubmitAsync(TestServer.Job("true") with { Name = "waiter-a" });
        var last = await server.SubmitAsync(TestServer.Job("true") with { Name = "waiter-b" });
        await server.WaitForJobAsync(last.Id, j => j.State == "Pending" && j.Reason.Length > 0);

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
        await page.WaitForSelectorAsync("body[data-loaded='overview']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });

        var chart = page.Locator("#chart-states");
        Assert.Equal(1, await chart.Locator("canvas").CountAsync());
        Assert.Equal(0, await chart.Locator("svg").CountAsync());

        // For every series: its value, its colour, and the canvas pixels in the middle of its bar and above it,
        // found through uPlot's own scales (valToPos in canvas pixels).
        var bars = await chart.EvaluateAsync<string[]>("""
            el => {
              const u = el.uplot;
              const pixel = (x, y) => Array.from(u.ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3)).join(",");
              const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(",");
              return el.chartSeries.map((s, k) => {
                const i = u.data[k + 1].findIndex((v) => v !== null), v = u.data[k + 1][i];
                const x = u.valToPos(i, "x", true);
                return [s.label, v, rgb(s.color), pixel(x, u.valToPos(v / 2, "y", true)), pixel(x, u.valToPos(v + (u.scales.y.max - v) / 2, "y", true))].join("|");
              });
            }
            """);
        var shown = bars.Select(b => b.Split('|')).ToDictionary(b => b[0]);
        var jobs = (await server.Admin.GetFromJsonAsync<PageDto<JobDto>>("/api/v1/jobs?limit=1000", TestServer.JsonOptions))!.Items;
        Assert.Equal(new Dictionary<string, int> { ["Pending"] = 2, ["Running"] = 1, ["Succeeded"] = 1 }, jobs.GroupBy(j => j.State).ToDictionary(g => g.Key, g => g.Count()));
        Assert.Equal(new[] { "Pending", "Running", "Succeeded" }, shown.Keys.Order());
        foreach (var (state, count) in new[] { ("Pending", 2), ("Running", 1), ("Succeeded", 1) })
        {
            var bar = shown[state];
            Assert.Equal(count, int.Parse(bar[1], CultureInfo.InvariantCulture));
            Assert.True(Close(bar[2], bar[3]), $"{state}: the middle of its bar is painted {bar[3]}, its colour is {bar[2]}");
            Assert.False(Close(bar[2], bar[4]), $"{state}: above its bar the canvas is {bar[4]}, not the bar's colour {bar[2]}");
        }

        // The legend is uPlot's, one entry per state.
        Assert.Equal(3, await chart.Locator(".u-legend .u-series").CountAsync() - 1);
        Assert.Empty(errors);
        await server.Admin.PostAsync($"/api/v1/jobs/{holder.Id}/cancel", null);
    }

    [Fact]
    public async Task UtilisationHeatmap_ShowsTheNodesSampledCpuAndPaintsItsCells()
    {
        if (!File.Exists(Chromium))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "chromium is missing under CI: .ci/run must apt-get install chromium");
            return;
        }

        // This machine as the node, sampled every second.
        var data = Path.Combine(Path.GetTempPath(), "stratum-dash-heat-" + Guid.NewGuid().ToString("N")[..12]);
        var server = await StratumServer.StartAsync(new ServerOptions
        {
            DataDirectory = data,
            Port = 0,
            RegisterLocalNode = true,
            TelemetryInterval = TimeSpan.FromSeconds(1),
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        });
        using var client = new StratumClient(server.Address, server.AdminToken);
        using var http = new HttpClient { BaseAddress = server.Address };
        http.DefaultRequestHeaders.Authorization = new("Bearer", server.AdminToken);
        try
        {
            var node = (await client.ListNodesAsync()).Single().Name;
            Task<TelemetryReportDto?> Cpu(string query) => http.GetFromJsonAsync<TelemetryReportDto>($"/api/v1/telemetry?node={Uri.EscapeDataString(node)}&metric=cpu_utilization&since=1h{query}", TestServer.JsonOptions);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!(await Cpu(""))!.Series.Any(s => s.Points.Count > 0))
            {
                Assert.True(DateTime.UtcNow < deadline, "the sampler stored no CPU sample of this node in 60 s");
                await Task.Delay(250);
            }

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
            // The telemetry answer the page itself received: the chart must draw exactly its buckets.
            var answer = page.WaitForResponseAsync(r => r.Url.Contains("/api/v1/telemetry?node=", StringComparison.Ordinal));
            await page.GotoAsync(server.Address.ToString());
            await page.Locator("#token").FillAsync(server.AdminToken);
            await page.Locator("#signin-button").ClickAsync();
            var received = JsonSerializer.Deserialize<TelemetryReportDto>(await (await answer).TextAsync(), TestServer.JsonOptions)!;
            await page.WaitForSelectorAsync("body[data-loaded='overview']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });

            // Rows; the CPU row's cells (start, value); whether its last cell is painted on the canvas.
            var shown = await page.Locator("#chart-heatmap").EvaluateAsync<JsonElement>("""
                el => {
                  const u = el.uplot, rows = el.chartSeries;
                  const r = rows.findIndex((row) => row.label.endsWith(" cpu"));
                  const row = rows[r], last = row.values.findLastIndex((v) => v !== null);
                  const step = u.data[0][1] - u.data[0][0];
                  const x = u.valToPos(u.data[0][last] + step / 2, "x", true), y = u.valToPos(rows.length - 1 - r, "row", true);
                  return { labels: rows.map((row) => row.label),
                           cells: u.data[0].map((start, i) => [start, u.data[r + 1][i]]).filter((c) => c[1] !== null),
                           alpha: u.ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data[3] };
                }
                """);
            Assert.Contains($"{node} cpu", shown.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
            Assert.True(shown.GetProperty("alpha").GetInt32() > 0, "the CPU row's last cell is painted on the canvas");
            var cells = shown.GetProperty("cells").EnumerateArray().Select(c => (Start: c[0].GetDouble(), Value: c[1].GetDouble())).ToList();
            var points = received.Series.Single(s => s.Metric == "cpu_utilization").Points;
            Assert.NotEmpty(points);
            Assert.Equal(points.Count, cells.Count);
            foreach (var (point, cell) in points.Zip(cells))
            {
                Assert.Equal(point.At.ToUnixTimeMilliseconds() / 1000.0, cell.Start, 0.001);
                Assert.Equal(point.Average, cell.Value, 1e-12);
                Assert.InRange(cell.Value, 0, 1);
            }

            Assert.Empty(errors);
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

    /// <summary>Two "r,g,b" colours within 3 per channel (canvas colour management may round).</summary>
    private static bool Close(string expected, string actual)
    {
        var a = expected.Split(',').Select(int.Parse).ToArray();
        var b = actual.Split(',').Select(int.Parse).ToArray();
        return a.Zip(b).All(p => Math.Abs(p.First - p.Second) <= 3);
    }
}
