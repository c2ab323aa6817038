using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Stratum.Client.Contracts;

namespace Stratum.Client
{
    /// <summary>
    /// The store's operations (docs/store.md#tiers-and-lifecycle, #backup-and-restore): tier policies, lifecycle
    /// runs, checkpoint retention, backup and restore. The long ones stream their progress as they go.
    /// </summary>
    public sealed partial class StratumClient
    {
        /// <summary>The media type a long store operation answers with when asked: one JSON object a line, progress then the result.</summary>
        public const string ProgressMediaType = "application/x-ndjson";

        public Task<TierPolicyDto> GetTierAsync(string repository, CancellationToken cancellationToken = default) =>
            SendAsync<TierPolicyDto>(HttpMethod.Get, $"api/v1/repos/{Segment(repository)}/tier", null, cancellationToken);

        public Task<TierPolicyDto> SetTierAsync(string repository, SetTierRequest request, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            return SendAsync<TierPolicyDto>(HttpMethod.Put, $"api/v1/repos/{Segment(repository)}/tier", request, cancellationToken);
        }

        public Task<RetentionResultDto> ApplyRetentionAsync(string repository, RetentionRequest request, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            return SendAsync<RetentionResultDto>(HttpMethod.Post, $"api/v1/repos/{Segment(repository)}/retention", request, cancellationToken);
        }

        /// <summary>A lifecycle run (admins); <paramref name="progress"/> hears how far it is.</summary>
        public Task<LifecycleReportDto> RunLifecycleAsync(LifecycleRunRequest request, IProgress<StoreOperationProgressDto>? progress = null, CancellationToken cancellationToken = default) =>
            SendWithProgressAsync<LifecycleReportDto>("api/v1/store/lifecycle", request, progress, cancellationToken);

        public Task<BackupReportDto> BackupAsync(BackupRequest request, IProgress<StoreOperationProgressDto>? progress = null, CancellationToken cancellationToken = default) =>
            SendWithProgressAsync<BackupReportDto>("api/v1/store/backup", request, progress, cancellationToken);

        public Task<BackupReportDto> RestoreAsync(RestoreRequest request, IProgress<StoreOperationProgressDto>? progress = null, CancellationToken cancellationToken = default) =>
            SendWithProgressAsync<BackupReportDto>("api/v1/store/restore", request, progress, cancellationToken);

        /// <summary>
        /// POSTs <paramref name="body"/> asking for progress lines. The server answers plain JSON (or a problem)
        /// when the operation ends or fails before its first progress report, so refusals keep their status codes;
        /// otherwise lines of <c>{"progress":...}</c> end with <c>{"result":...}</c> or <c>{"error":...}</c>.
        /// </summary>
        private async Task<T> SendWithProgressAsync<T>(string path, object body, IProgress<StoreOperationProgressDto>? progress, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(body);
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, body.GetType(), options: Json) };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(ProgressMediaType));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json", 0.5));
            using var timeout = new CancellationTokenSource(TransferTimeout);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            using var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken, linked.Token).ConfigureAwait(false);
            await ThrowIfErrorAsync(response, linked.Token).ConfigureAwait(false);
            if (response.Content.Headers.ContentType?.MediaType != ProgressMediaType)
            {
                return await response.Content.ReadFromJsonAsync<T>(Json, linked.Token).ConfigureAwait(false)
                    ?? throw new StratumApiException(response.StatusCode, "empty response", $"POST /{path} answered without a body", null);
            }

            await using var stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            while (await reader.ReadLineAsync(linked.Token).ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }

                var item = JsonSerializer.Deserialize<ProgressLine<T>>(line, Json)
                    ?? throw new StratumApiException(response.StatusCode, "unreadable response", $"POST /{path} sent a line this client does not understand", null);
                if (item.Progress is { } reported)
                {
                    progress?.Report(reported);
                }
                else if (item.Result is { } result)
                {
                    return result;
                }
                else if (item.Error is { } error)
                {
                    throw new StratumApiException(response.StatusCode, error.Title ?? "operation failed", error.Detail ?? "the operation failed after it started", null);
                }
            }

            throw new StratumApiException(response.StatusCode, "incomplete response", $"POST /{path} ended before the operation reported its result; the server may have stopped", null);
        }

        private sealed record ProgressLine<T>(StoreOperationProgressDto? Progress, T? Result, ProgressError? Error);

        private sealed record ProgressError(string? Title, string? Detail);
    }
}

namespace Stratum.Client.Contracts
{
    /// <summary>PUT /api/v1/repos/{repo}/tier: hot, cold, or lifecycle with coldAfterIdle and/or coldAfterAge ("30d").</summary>
    public sealed record SetTierRequest
    {
        public string? Placement { get; init; }

        public string? ColdAfterIdle { get; init; }

        public string? ColdAfterAge { get; init; }
    }

    /// <summary>A repository's tier placement; durations in seconds (null when not set).</summary>
    public sealed record TierPolicyDto(string Repository, string Placement, long? ColdAfterIdleSeconds, long? ColdAfterAgeSeconds);

    /// <summary>POST /api/v1/store/lifecycle (admins).</summary>
    public sealed record LifecycleRunRequest
    {
        public bool DryRun { get; init; }
    }

    public sealed record LifecycleFailureDto(string Pack, string Step, string Reason);

    public sealed record LifecycleReportDto(
        bool DryRun,
        int PacksExamined,
        int PacksMovedToCold,
        int PacksMirroredToCold,
        int PacksRehydrated,
        int PacksUnreferenced,
        long BytesCopied,
        long HotBytesFreed,
        IReadOnlyList<LifecycleFailureDto> Failures);

    /// <summary>POST /api/v1/repos/{repo}/retention: keep the last N and the best N by a metric of commit metadata.</summary>
    public sealed record RetentionRequest
    {
        public int KeepLast { get; init; }

        public int KeepBest { get; init; }

        public string? Metric { get; init; }

        /// <summary>Whether a higher metric is better (accuracy); default false: lower is better (loss).</summary>
        public bool HigherIsBetter { get; init; }

        public string? Branch { get; init; }
    }

    public sealed record RetentionResultDto(string Repository, string Branch, IReadOnlyList<string> Kept, IReadOnlyList<string> Dropped, DateTimeOffset AppliedAt);

    /// <summary>POST /api/v1/store/backup (admins): to an absolute directory on the server's machine or s3://BUCKET[/PREFIX]; one repository or the whole store.</summary>
    public sealed record BackupRequest
    {
        public string? To { get; init; }

        public string? Repository { get; init; }
    }

    /// <summary>POST /api/v1/store/restore (admins).</summary>
    public sealed record RestoreRequest
    {
        public string? From { get; init; }
    }

    public sealed record BackupReportDto(
        string Kind,
        string Location,
        IReadOnlyList<string> Repositories,
        int BlobsExamined,
        int BlobsCopied,
        int BlobsSkipped,
        int BlobsDeleted,
        long BytesCopied,
        DateTimeOffset At);

    /// <summary>How far a long store operation is: its phase, items done of total, bytes copied so far.</summary>
    public sealed record StoreOperationProgressDto(string Phase, long Done, long Total, long Bytes);
}
