using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Stratum.Server.Metrics;

namespace Stratum.Server.Tests;

public sealed class MetricsTests
{
    [Fact]
    public async Task Metrics_WithoutToken_ExposeJobsSchedulingAndHttpInstruments()
    {
        await using var server = await TestServer.StartAsync();
        var job = await server.SubmitAsync(TestServer.Job("true"));
        await server.WaitForStateAsync(job.Id, "Succeeded");

        using var anonymous = server.Client(null);
        var response = await anonymous.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Contains("# TYPE stratum_jobs_submitted_total counter", text);
        Assert.Contains("stratum_jobs_submitted_total{project=\"default\"} 1\n", text);
        Assert.Contains("stratum_jobs_finished_total{project=\"default\",state=\"Succeeded\"} 1\n", text);
        Assert.Contains("# TYPE stratum_job_queue_wait_seconds histogram", text);
        Assert.Contains("stratum_job_queue_wait_seconds_count{project=\"default\"} 1\n", text);
        Assert.Contains("stratum_scheduler_pass_duration_seconds_bucket{le=\"+Inf\"}", text);
        Assert.Contains("stratum_node_allocatable_cpu_cores{node=\"n1\",pool=\"test\"} 4\n", text);
        Assert.Contains("http_server_request_duration_seconds_bucket{", text);
        Assert.Contains("http_request_method=\"POST\",http_response_status_code=\"201\",http_route=\"/api/v1/jobs", text);
        Assert.Contains("stratum_persistence_sqlite_commits_total", text);
        Assert.Contains("stratum_node_memory_usage_bytes{node=", text);
        Assert.Contains("stratum_node_filesystem_limit_bytes{", text);

        // CPU utilisation is measured from the reading taken at start, so the first scrape has it too.
        var second = await anonymous.GetStringAsync("/metrics");
        Assert.Matches(@"stratum_node_cpu_utilization_ratio\{node=""[^""]+""\} [0-9.eE-]+\n", second);
    }

    [Fact]
    public async Task Metrics_PassPromtoolCheck()
    {
        if (Promtool() is not { } promtool)
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "promtool is missing under CI: .ci/run installs Debian's prometheus package");
            return;
        }

        await using var server = await TestServer.StartAsync();
        var job = await server.SubmitAsync(TestServer.Job("true"));
        await server.WaitForStateAsync(job.Id, "Succeeded");
        using var anonymous = server.Client(null);
        var text = await anonymous.GetStringAsync("/metrics");

        var start = new ProcessStartInfo(promtool, ["check", "metrics"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(text);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(process.ExitCode == 0, $"promtool check metrics failed:\n{output}\n--- metrics ---\n{text}");
    }

    [Fact]
    public void Exporter_RendersCounterGaugeAndHistogramInTextFormat()
    {
        using var meter = new Meter("Stratum.Test.Exporter");
        using var exporter = new PrometheusExporter(m => m == meter);
        var counter = meter.CreateCounter<long>("test.requests", "{request}", "Requests.");
        var histogram = meter.CreateHistogram("test.latency", "s", "Latency.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1] });
        var value = 3.5;
        meter.CreateObservableGauge("test.temperature", () => value, "1", "A \"quoted\" gauge.");

        counter.Add(2, new KeyValuePair<string, object?>("path", "a\"b"));
        counter.Add(1, new KeyValuePair<string, object?>("path", "a\"b"));
        histogram.Record(0.05);
        histogram.Record(0.5);
        histogram.Record(7);

        var text = exporter.Render();
        Assert.Contains("# TYPE test_requests_total counter\ntest_requests_total{path=\"a\\\"b\"} 3\n", text);
        Assert.Contains("test_latency_seconds_bucket{le=\"0.10000000000000001\"} 1\n", text);
        Assert.Contains("test_latency_seconds_bucket{le=\"1\"} 2\n", text);
        Assert.Contains("test_latency_seconds_bucket{le=\"+Inf\"} 3\n", text);
        Assert.Contains("test_latency_seconds_count 3\n", text);
        Assert.Contains("test_temperature_ratio 3.5\n", text);

        value = 4;
        Assert.Contains("test_temperature_ratio 4\n", exporter.Render());
    }

    private static string? Promtool() =>
        new[] { "/usr/bin/promtool", "/usr/local/bin/promtool" }.FirstOrDefault(File.Exists);
}
