using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Server;

// The dashboard's first load and first live update in real headless Chromium, against one real in-process
// server holding finished jobs in three projects. Two versions of the page are measured in the same run,
// alternately, against the same server:
//   - "uplot": this build's page (charts by uPlot, embedded from npm; assets under content-hashed URLs);
//   - "hand-drawn" (the baseline): the last page whose charts were inline SVG drawn by its own script,
//     read with `git show` from commit HandDrawnCommit and served with that version's headers.
// Each is reached through the same small in-process front (a reverse proxy to the server's API), so the two
// differ only in the page's own files. Measured, N times each:
//   - cold load: a fresh browser context (empty cache), navigation start to the overview rendered (the
//     page sets body[data-loaded=overview] after drawing it), and the bytes transferred;
//   - warm load: the same, again in the same context (the HTTP cache filled by the cold load);
//   - first live update: a job submitted through the API at a random moment of the refresh cycle, until the
//     overview's queued + running count shows it, without reloading.
//   dotnet run -c Release --project bench/Stratum.Dashboard.Benchmarks -- [--repeats 10] [--updates 8]
const string Chromium = "/usr/bin/chromium";
const string HandDrawnCommit = "ed23189ccbfb18b55089c319021be065be7e7e81";
const string Token = "stratum.token";

var repeats = Option("--repeats", 10);
var updates = Option("--updates", 8);
if (!File.Exists(Chromium))
{
    Console.Error.WriteLine($"{Chromium} is missing: apt-get install chromium");
    return 1;
}

var root = FindRoot();
var handDrawn = new Dictionary<string, byte[]>(StringComparer.Ordinal);
foreach (var name in new[] { "index.html", "app.js", "app.css" })
{
    handDrawn[name] = GitShow(root, $"{HandDrawnCommit}:src/Stratum.Server/Dashboard/assets/{name}");
}

var data = Path.Combine(Path.GetTempPath(), "stratum-dashboard-bench-" + Guid.NewGuid().ToString("N")[..8]);
var server = await StratumServer.StartAsync(new ServerOptions
{
    DataDirectory = data,
    Port = 0,
    // This machine is a node too, so that the overview's utilisation heatmap has its samples to draw.
    RegisterLocalNode = true,
    TelemetryInterval = TimeSpan.FromSeconds(2),
    MinimumLogLevel = LogLevel.Warning,
});
var fronts = new List<Front>();
try
{
    using var client = new StratumClient(server.Address, server.AdminToken);
    await SeedAsync(client);
    var variants = new[]
    {
        new Variant("hand-drawn", $"inline SVG charts drawn by the page's script (commit {HandDrawnCommit[..7]})", await Front.StartAsync(server.Address, handDrawn)),
        new Variant("uplot", "charts by uPlot 1.6.32 from npm, embedded at build time; assets under content-hashed URLs", await Front.StartAsync(server.Address, null)),
    };
    fronts.AddRange(variants.Select(v => v.Front));

    using var playwright = await Playwright.CreateAsync();
    await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = Chromium,
        Headless = true,
        Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    });

    // One warm-up of each (the server's and the front's JIT, Chromium's first process), not counted.
    foreach (var variant in variants)
    {
        await using var context = await NewContextAsync(browser, server.AdminToken);
        await LoadAsync(context, variant.Front.Address);
    }

    for (var i = 0; i < repeats; i++)
    {
        foreach (var variant in i % 2 == 0 ? variants : variants.Reverse())
        {
            await using var context = await NewContextAsync(browser, server.AdminToken);
            variant.Cold.Add(await LoadAsync(context, variant.Front.Address));
            variant.Warm.Add(await LoadAsync(context, variant.Front.Address));
        }

        Console.Error.Write($"\rloads {i + 1}/{repeats}");
    }

    Console.Error.WriteLine();
    var random = new Random(5);
    var submitted = new List<long>();
    var delays = Enumerable.Range(0, updates).Select(_ => random.Next(0, 5000)).ToArray();
    foreach (var variant in variants)
    {
        await using var context = await NewContextAsync(browser, server.AdminToken);
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(variant.Front.Address, "/ui/overview").ToString());
        await page.WaitForFunctionAsync("() => window.__rendered !== undefined", null, new PageWaitForFunctionOptions { Timeout = 60_000 });
        const string Shown = "Number(document.querySelector('[data-testid=queued]').textContent) + Number(document.querySelector('[data-testid=running]').textContent)";
        foreach (var delay in delays)
        {
            var before = await page.EvaluateAsync<int>($"() => {Shown}");
            // A random moment of the page's 5 s refresh cycle (the same moments for both versions).
            await Task.Delay(delay);
            var clock = Stopwatch.StartNew();
            var job = await client.SubmitJobAsync(new SubmitJobRequest
            {
                Name = "live-" + variant.Name, Project = "vision", Command = ["sleep", "600"], Resources = new ResourcesDto { Cpu = "10m", Memory = "16Mi" },
            });
            submitted.Add(job.Id);
            await page.WaitForFunctionAsync($"() => {Shown} > {before}", null, new PageWaitForFunctionOptions { PollingInterval = 10, Timeout = 30_000 });
            variant.LiveUpdates.Add(clock.Elapsed.TotalMilliseconds);
        }

        Console.Error.WriteLine($"live updates of {variant.Name}: {string.Join(", ", variant.LiveUpdates.Select(v => v.ToString("0", CultureInfo.InvariantCulture)))} ms");
    }

    foreach (var id in submitted)
    {
        await client.CancelJobAsync(id);
    }

    var result = new
    {
        benchmark = "dashboard",
        date = DateTimeOffset.UtcNow,
        machine = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
        load_average_at_end = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
        command = $"dotnet run -c Release --project bench/Stratum.Dashboard.Benchmarks -- --repeats {repeats} --updates {updates}",
        browser = $"Chromium {browser.Version}, headless, 1360x900",
        data = "3 projects, 30 finished jobs, two nodes (this machine, sampled every 2 s, and a declared one); every request goes through the same in-process reverse proxy for both versions",
        baseline = "hand-drawn: the same page before uPlot (inline SVG charts drawn by its own script), same server, same data, measured alternately in the same run",
        load_repeats = repeats,
        live_update_repeats = updates,
        refresh_interval_ms = 5000,
        variants = variants.Select(v => new
        {
            name = v.Name,
            what = v.What,
            cold_load_ms_median = Median(v.Cold.Select(l => l.RenderedMs)),
            cold_load_ms_min = Math.Round(v.Cold.Min(l => l.RenderedMs), 1),
            cold_load_ms_max = Math.Round(v.Cold.Max(l => l.RenderedMs), 1),
            warm_load_ms_median = Median(v.Warm.Select(l => l.RenderedMs)),
            cold_bytes_page_median = Median(v.Cold.Select(l => (double)l.PageBytes)),
            cold_bytes_api_median = Median(v.Cold.Select(l => (double)l.ApiBytes)),
            warm_bytes_page_median = Median(v.Warm.Select(l => (double)l.PageBytes)),
            cold_page_requests_on_wire = Median(v.Cold.Select(l => (double)l.PageRequests)),
            warm_page_requests_on_wire = Median(v.Warm.Select(l => (double)l.PageRequests)),
            cold_page_files_on_wire = v.Cold[^1].OnWire,
            warm_page_files_on_wire = v.Warm[^1].OnWire,
            api_requests_median = Median(v.Cold.Select(l => (double)l.ApiRequests)),
            live_update_ms_median = Median(v.LiveUpdates),
            live_update_ms_min = Math.Round(v.LiveUpdates.Min(), 1),
            live_update_ms_max = Math.Round(v.LiveUpdates.Max(), 1),
        }).ToList(),
    };
    var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
    var path = Path.Combine(root, "bench", "results", "dashboard.json");
    File.WriteAllText(path, json + "\n");
    Console.WriteLine(json);
    Console.WriteLine($"written to {path}");

    // The server stops only once its replicas have: no sleeping process outlives the benchmark.
    var deadline = DateTime.UtcNow.AddMinutes(1);
    while ((await client.ListJobsAsync(new JobListQuery { States = ["Running"], Limit = 1000 })).Items.Count > 0 && DateTime.UtcNow < deadline)
    {
        await Task.Delay(500);
    }
}
finally
{
    foreach (var front in fronts)
    {
        await front.DisposeAsync();
    }

    await server.StopAsync();
    try
    {
        Directory.Delete(data, recursive: true);
    }
    catch (IOException)
    {
        // A replica being killed may still write its log; the temp directory is throwaway.
    }
}

return 0;

static async Task SeedAsync(StratumClient client)
{
    await client.ApplyAsync(new ApplyRequest
    {
        Document = """
            pools:
              - name: bench
                price: {cpuCoreHour: 0.05, memoryGbHour: 0.01}
            nodes:
              - name: n1
                pool: bench
                cpu: "64"
                memory: 64Gi
            projects:
              - name: vision
              - name: nlp
              - name: speech
            """,
    });
    string[] projects = ["vision", "nlp", "speech"];
    var ids = new List<long>();
    for (var i = 0; i < 30; i++)
    {
        var job = await client.SubmitJobAsync(new SubmitJobRequest
        {
            Name = $"seed-{i}", Project = projects[i % 3], Command = ["sleep", "0.2"], Resources = new ResourcesDto { Cpu = "500m", Memory = "32Mi" },
        });
        ids.Add(job.Id);
    }

    var deadline = DateTime.UtcNow.AddMinutes(2);
    while ((await client.ListJobsAsync(new JobListQuery { States = ["Pending", "Running"], Limit = 1000 })).Items.Count > 0)
    {
        if (DateTime.UtcNow > deadline)
        {
            throw new TimeoutException("the 30 seed jobs did not finish in 2 minutes");
        }

        await Task.Delay(200);
    }
}

// Every page starts signed in (the token in sessionStorage, as the sign-in form leaves it) and records
// when the overview is first rendered: both versions set body[data-loaded=overview] after drawing it.
static async Task<IBrowserContext> NewContextAsync(IBrowser browser, string token)
{
    var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1360, Height = 900 } });
    await context.AddInitScriptAsync($$"""
        sessionStorage.setItem({{JsonSerializer.Serialize(Token)}}, {{JsonSerializer.Serialize(token)}});
        new MutationObserver(() => {
          if (window.__rendered === undefined && document.body && document.body.dataset.loaded === "overview") window.__rendered = performance.now();
        }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-loaded"] });
        """);
    return context;
}

static async Task<Load> LoadAsync(IBrowserContext context, Uri front)
{
    var page = await context.NewPageAsync();
    try
    {
        await page.GotoAsync(new Uri(front, "/ui/overview").ToString());
        await page.WaitForFunctionAsync("() => window.__rendered !== undefined", null, new PageWaitForFunctionOptions { Timeout = 60_000 });
        var entries = await page.EvaluateAsync<JsonElement>("""
            () => ({
              rendered: window.__rendered,
              entries: [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
                .map((e) => ({ path: new URL(e.name).pathname, api: new URL(e.name).pathname.startsWith("/api/"), transfer: e.transferSize })),
            })
            """);
        long pageBytes = 0, apiBytes = 0;
        int pageRequests = 0, apiRequests = 0;
        var onWire = new List<string>();
        foreach (var entry in entries.GetProperty("entries").EnumerateArray())
        {
            var transfer = entry.GetProperty("transfer").GetInt64();
            if (entry.GetProperty("api").GetBoolean())
            {
                apiBytes += transfer;
                apiRequests++;
            }
            else
            {
                pageBytes += transfer;
                pageRequests += transfer > 0 ? 1 : 0;
                if (transfer > 0)
                {
                    onWire.Add($"{entry.GetProperty("path").GetString()} ({transfer} B)");
                }
            }
        }

        return new Load(entries.GetProperty("rendered").GetDouble(), pageBytes, apiBytes, pageRequests, apiRequests, onWire);
    }
    finally
    {
        await page.CloseAsync();
    }
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToList();
    var middle = sorted.Count / 2;
    return Math.Round(sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2, 1);
}

static byte[] GitShow(string root, string spec)
{
    var start = new ProcessStartInfo("git", ["-C", root, "show", spec]) { RedirectStandardOutput = true, RedirectStandardError = true };
    using var git = Process.Start(start) ?? throw new InvalidOperationException("git could not be started");
    using var output = new MemoryStream();
    git.StandardOutput.BaseStream.CopyTo(output);
    var error = git.StandardError.ReadToEnd();
    git.WaitForExit();
    if (git.ExitCode != 0)
    {
        throw new InvalidOperationException($"git show {spec} failed (the baseline is read from the repository's history): {error.Trim()}");
    }

    return output.ToArray();
}

static string FindRoot()
{
    var directory = new DirectoryInfo(AppContext.BaseDirectory);
    while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Stratum.slnx")))
    {
        directory = directory.Parent;
    }

    return directory?.FullName ?? throw new InvalidOperationException("Stratum.slnx not found above " + AppContext.BaseDirectory);
}

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length && int.TryParse(args[index + 1], CultureInfo.InvariantCulture, out var value) ? value : fallback;
}

internal sealed record Load(double RenderedMs, long PageBytes, long ApiBytes, int PageRequests, int ApiRequests, IReadOnlyList<string> OnWire);

internal sealed class Variant(string name, string what, Front front)
{
    public string Name { get; } = name;

    public string What { get; } = what;

    public Front Front { get; } = front;

    public List<Load> Cold { get; } = [];

    public List<Load> Warm { get; } = [];

    public List<double> LiveUpdates { get; } = [];
}

/// <summary>
/// A small HTTP front on a loopback port: it proxies every request to the server, except that with
/// <c>pageFiles</c> it answers the page itself (/, /ui/..., /ui/assets/NAME) from those files, with the
/// headers that version of the server sent (no-cache and an ETag).
/// </summary>
internal sealed class Front : IAsyncDisposable
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase) { "Transfer-Encoding", "Connection", "Keep-Alive", "Host" };

    private readonly WebApplication _app;
    private readonly HttpClient _http;

    private Front(WebApplication app, HttpClient http, Uri address)
    {
        _app = app;
        _http = http;
        Address = address;
    }

    public Uri Address { get; }

    public static async Task<Front> StartAsync(Uri backend, IReadOnlyDictionary<string, byte[]>? pageFiles)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, AutomaticDecompression = System.Net.DecompressionMethods.None }) { BaseAddress = backend };
        app.Run(async context =>
        {
            if (pageFiles is not null && await ServePageAsync(context, pageFiles))
            {
                return;
            }

            using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString);
            if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
            {
                request.Content = new StreamContent(context.Request.Body);
            }

            foreach (var (key, value) in context.Request.Headers.Where(h => !HopByHop.Contains(h.Key)))
            {
                if (!request.Headers.TryAddWithoutValidation(key, value.ToArray()))
                {
                    request.Content?.Headers.TryAddWithoutValidation(key, value.ToArray());
                }
            }

            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (key, value) in response.Headers.Concat(response.Content.Headers).Where(h => !HopByHop.Contains(h.Key)))
            {
                context.Response.Headers[key] = value.ToArray();
            }

            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
        });
        await app.StartAsync();
        var address = new Uri(app.Urls.First());
        return new Front(app, http, address);
    }

    private static async Task<bool> ServePageAsync(HttpContext context, IReadOnlyDictionary<string, byte[]> files)
    {
        var path = context.Request.Path.Value ?? "/";
        string? name = path.StartsWith("/ui/assets/", StringComparison.Ordinal) ? path["/ui/assets/".Length..]
            : path is "/" or "/ui" || path.StartsWith("/ui/", StringComparison.Ordinal) ? "index.html"
            : null;
        if (name is null)
        {
            return false;
        }

        if (!files.TryGetValue(name, out var content))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return true;
        }

        var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(content))[..16] + "\"";
        context.Response.ContentType = Path.GetExtension(name) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            _ => "text/css; charset=utf-8",
        };
        context.Response.Headers.ETag = etag;
        context.Response.Headers.CacheControl = "no-cache";
        if (context.Request.Headers.IfNoneMatch.ToString() == etag)
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return true;
        }

        context.Response.ContentLength = content.Length;
        await context.Response.Body.WriteAsync(content, context.RequestAborted);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _http.Dispose();
    }
}
