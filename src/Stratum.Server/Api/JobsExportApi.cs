using System.Globalization;
using System.Text;
using System.Text.Json;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;
using Stratum.Persistence;
using Stratum.Server.Auth;

namespace Stratum.Server.Api;

/// <summary>
/// GET /api/v1/jobs/export?since=30d&amp;format=jsonl|csv (admins): the server's finished jobs in the
/// simulator's own trace format (docs/simulation.md), so that <c>stratum simulate --trace</c> replays
/// this cluster's real history on another cluster. Streamed page by page: the history can be large.
/// </summary>
/// <remarks>
/// One row per finished job that ran: <c>submit</c> (ISO-8601), <c>duration</c> (seconds it actually
/// ran, over all its attempts), <c>gpus</c> (the whole job's: per replica times replicas, which is what
/// the simulator places), <c>project</c>, <c>priority</c>, <c>preemptible</c>, <c>gpuType</c>, <c>user</c>;
/// then, for people and tools (the simulator ignores them), <c>id</c>, <c>state</c>, <c>replicas</c>,
/// <c>gpusPerReplica</c>, <c>cpusPerReplica</c>, <c>memoryPerReplica</c> (bytes) and <c>attempts</c>.
/// Jobs still queued or running, and jobs cancelled before they started, are left out: their
/// duration is not known.
/// </remarks>
public static class JobsExportApi
{
    private const int PageSize = 500;

    private static readonly string[] Columns =
        ["submit", "duration", "gpus", "project", "priority", "preemptible", "gpuType", "user", "id", "state", "replicas", "gpusPerReplica", "cpusPerReplica", "memoryPerReplica", "attempts"];

    public static void MapJobsExport(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/api/v1/jobs/export", ExportAsync).WithTags("Jobs").WithName("ExportJobs");

    private static async Task<IResult> ExportAsync(
        HttpContext context, IMetadataStore store, TimeProvider time, CancellationToken cancellationToken, string? since = null, string? format = null)
    {
        if (!context.Caller().IsAdmin)
        {
            return Problems.Forbidden("only admins export the job history: it spans every project");
        }

        var window = TimeSpan.FromDays(30);
        if (since is not null && (!Quantity.TryParseDuration(since, out window) || window <= TimeSpan.Zero || window > TimeSpan.FromDays(3660)))
        {
            return Problems.Validation("since", $"'{since}' is not a duration between 1s and 3660d; write for example \"30d\" or \"12h\"");
        }

        var csv = (format ?? "jsonl").ToLowerInvariant() switch
        {
            "jsonl" => false,
            "csv" => true,
            _ => (bool?)null,
        };
        if (csv is null)
        {
            return Problems.Validation("format", $"'{format}' is not an export format; use jsonl or csv");
        }

        var from = time.GetUtcNow() - window;
        return new ExportResult(store, from, csv.Value);
    }

    /// <summary>A row of the trace, or null for a job the trace cannot hold.</summary>
    public static IReadOnlyList<(string Name, object Value)>? Row(Job job)
    {
        if (!job.State.IsTerminal() || job.Attempts.Count == 0)
        {
            return null;
        }

        var ran = TimeSpan.Zero;
        foreach (var attempt in job.Attempts)
        {
            if (attempt.EndedAt is { } ended && ended > attempt.StartedAt)
            {
                ran += ended - attempt.StartedAt;
            }
        }

        var resources = job.Spec.Resources;
        var gpuType = resources.Accelerators.FirstOrDefault(a => a.Value > 0).Key;
        return
        [
            ("submit", job.SubmittedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)),
            ("duration", Math.Round(ran.TotalSeconds, 3)),
            ("gpus", resources.AcceleratorCount * job.Spec.Replicas),
            ("project", job.Spec.Project),
            ("priority", job.Spec.Priority),
            ("preemptible", job.Spec.Preemptible),
            ("gpuType", gpuType ?? ""),
            ("user", job.Owner),
            ("id", job.Id),
            ("state", job.State.ToWire()),
            ("replicas", job.Spec.Replicas),
            ("gpusPerReplica", resources.AcceleratorCount),
            ("cpusPerReplica", resources.CpuMillis / 1000.0),
            ("memoryPerReplica", resources.MemoryBytes),
            ("attempts", job.Attempts.Count),
        ];
    }

    private sealed class ExportResult(IMetadataStore store, DateTimeOffset from, bool csv) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            var cancellationToken = httpContext.RequestAborted;
            response.ContentType = csv ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8";
            response.Headers.ContentDisposition = csv ? "attachment; filename=\"stratum-jobs.csv\"" : "attachment; filename=\"stratum-jobs.jsonl\"";
            await using var writer = new StreamWriter(response.Body, new UTF8Encoding(false), 64 * 1024);
            if (csv)
            {
                await writer.WriteAsync(string.Join(',', Columns) + "\n");
            }

            long? before = null;
            while (true)
            {
                var page = await store.Jobs.ListAsync(new JobQuery { BeforeId = before, Limit = PageSize }, cancellationToken);
                foreach (var job in page.Jobs.Where(j => j.SubmittedAt >= from))
                {
                    if (Row(job) is { } row)
                    {
                        await writer.WriteAsync(csv ? CsvLine(row) : JsonLine(row));
                    }
                }

                await writer.FlushAsync(cancellationToken);
                // Ids grow with submission time, so the first page that starts before the window ends the walk.
                if (page.NextBeforeId is null || page.Jobs.Any(j => j.SubmittedAt < from))
                {
                    return;
                }

                before = page.NextBeforeId;
            }
        }

        private static string CsvLine(IReadOnlyList<(string Name, object Value)> row) =>
            string.Join(',', row.Select(f => Text(f.Value))) + "\n";

        private static string JsonLine(IReadOnlyList<(string Name, object Value)> row)
        {
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                foreach (var (name, value) in row)
                {
                    switch (value)
                    {
                        case string text:
                            json.WriteString(name, text);
                            break;
                        case bool flag:
                            json.WriteBoolean(name, flag);
                            break;
                        case int number:
                            json.WriteNumber(name, number);
                            break;
                        case long number:
                            json.WriteNumber(name, number);
                            break;
                        case double number:
                            json.WriteNumber(name, number);
                            break;
                    }
                }

                json.WriteEndObject();
            }

            return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
        }

        // Names, projects and types are validated names (no commas or quotes), so fields never need quoting.
        private static string Text(object value) => value switch
        {
            bool flag => flag ? "true" : "false",
            IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
    }
}
