using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Stratum.Client.Contracts;

namespace Stratum.Client;

/// <summary>
/// A typed client for the Stratum REST API (/api/v1), one method per endpoint. Errors the server
/// reports become <see cref="StratumApiException"/>; a server that does not answer becomes
/// <see cref="StratumUnreachableException"/>.
/// </summary>
public sealed partial class StratumClient : IDisposable
{
    public const string AddressVariable = "STRATUM_ADDR";
    public const string TokenVariable = "STRATUM_TOKEN";
    public const string DataVariable = "STRATUM_DATA";
    public const string DefaultDataDirectory = ".stratum";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HttpClient _http;

    public StratumClient(Uri address, string token, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentException.ThrowIfNullOrWhiteSpace(token);

        // Relative request paths resolve against the base only when it ends in '/'.
        Address = address.AbsoluteUri.EndsWith('/') ? address : new Uri(address.AbsoluteUri + "/");
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = Address;

        // Followed logs stay open for as long as the job runs, so the client-wide timeout is off and
        // every other request gets RequestTimeout through its own token.
        _http.Timeout = Timeout.InfiniteTimeSpan;
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("stratum-client", "1"));
    }

    public Uri Address { get; }

    /// <summary>How long a request (other than followed logs) may take. Default 100 seconds.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// Finds the server: STRATUM_ADDR and STRATUM_TOKEN when set, else the connection.json that
    /// <c>stratum up</c> wrote into <paramref name="dataDirectory"/> (default STRATUM_DATA, else ./.stratum).
    /// Either variable alone overrides its half of the file. Throws <see cref="StratumUnreachableException"/>
    /// saying what was looked for when neither gives an address and a token.
    /// </summary>
    public static StratumClient Connect(string? dataDirectory, Func<string, string?>? environment = null, HttpMessageHandler? handler = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var address = NullIfEmpty(environment(AddressVariable));
        var token = NullIfEmpty(environment(TokenVariable));
        var directory = ResolveDataDirectory(dataDirectory, environment);

        if (address is null || token is null)
        {
            var local = LocalConnection.TryRead(directory);
            address ??= local?.Address;
            token ??= local?.Token;
        }

        if (address is null || token is null)
        {
            var missing = address is null && token is null
                ? $"{AddressVariable} and {TokenVariable} are not set and {LocalConnection.PathIn(directory)} does not exist"
                : $"{(address is null ? AddressVariable : TokenVariable)} is not set and {LocalConnection.PathIn(directory)} does not provide it";
            throw new StratumUnreachableException(
                $"no server to talk to: {missing}; start one here with 'stratum up' (or pass --data DIR of a running one)");
        }

        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new StratumUnreachableException($"'{address}' is not an http(s) address; set {AddressVariable} to one like http://127.0.0.1:8470");
        }

        return new StratumClient(uri, token, handler);
    }

    /// <summary>The data directory the CLI uses: the given one, else STRATUM_DATA, else ./.stratum.</summary>
    public static string ResolveDataDirectory(string? dataDirectory, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        return NullIfEmpty(dataDirectory) ?? NullIfEmpty(environment(DataVariable)) ?? DefaultDataDirectory;
    }

    public Task<bool> CheckHealthAsync(CancellationToken cancellationToken = default) => ProbeAsync("healthz", cancellationToken);

    public Task<bool> CheckReadyAsync(CancellationToken cancellationToken = default) => ProbeAsync("readyz", cancellationToken);

    public Task<ServerInfoDto> GetInfoAsync(CancellationToken cancellationToken = default) =>
        SendAsync<ServerInfoDto>(HttpMethod.Get, "api/v1/info", null, cancellationToken);

    // Jobs

    /// <summary>Submits a job. With an <paramref name="idempotencyKey"/> seen before, the server returns the job it created then.</summary>
    public Task<JobDto> SubmitJobAsync(SubmitJobRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendAsync<JobDto>(HttpMethod.Post, "api/v1/jobs", request, cancellationToken, message =>
        {
            if (!string.IsNullOrEmpty(idempotencyKey))
            {
                message.Headers.Add("Idempotency-Key", idempotencyKey);
            }
        });
    }

    /// <summary>One page of jobs, newest first.</summary>
    public Task<PageDto<JobDto>> ListJobsAsync(JobListQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new JobListQuery();
        var parameters = new List<(string, string?)>
        {
            ("project", query.Project),
            ("owner", query.Owner),
            ("limit", query.Limit?.ToString(CultureInfo.InvariantCulture)),
            ("cursor", query.Cursor),
        };
        parameters.AddRange((query.States ?? []).Select(s => ("state", (string?)s)));
        return SendAsync<PageDto<JobDto>>(HttpMethod.Get, "api/v1/jobs" + QueryString(parameters), null, cancellationToken);
    }

    /// <summary>Every job matching <paramref name="query"/>, following the cursor page by page.</summary>
    public async IAsyncEnumerable<JobDto> ListAllJobsAsync(JobListQuery? query = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        query ??= new JobListQuery();
        while (true)
        {
            var page = await ListJobsAsync(query, cancellationToken).ConfigureAwait(false);
            foreach (var job in page.Items)
            {
                yield return job;
            }

            if (string.IsNullOrEmpty(page.NextCursor) || page.NextCursor == query.Cursor)
            {
                yield break;
            }

            query = query with { Cursor = page.NextCursor };
        }
    }

    public Task<JobDto> GetJobAsync(long id, CancellationToken cancellationToken = default) =>
        SendAsync<JobDto>(HttpMethod.Get, $"api/v1/jobs/{id.ToString(CultureInfo.InvariantCulture)}", null, cancellationToken);

    public Task<JobDto> CancelJobAsync(long id, CancellationToken cancellationToken = default) =>
        SendAsync<JobDto>(HttpMethod.Post, $"api/v1/jobs/{id.ToString(CultureInfo.InvariantCulture)}/cancel", null, cancellationToken);

    public Task<JobWhyDto> GetJobWhyAsync(long id, CancellationToken cancellationToken = default) =>
        SendAsync<JobWhyDto>(HttpMethod.Get, $"api/v1/jobs/{id.ToString(CultureInfo.InvariantCulture)}/why", null, cancellationToken);

    /// <summary>
    /// The job's log, line by line. With <see cref="LogQuery.Follow"/> the lines keep coming until the
    /// attempt ends (or <paramref name="cancellationToken"/> fires); without it the log as it is now.
    /// </summary>
    public async IAsyncEnumerable<string> StreamLogsAsync(long id, LogQuery? query = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        query ??= new LogQuery();
        var path = $"api/v1/jobs/{id.ToString(CultureInfo.InvariantCulture)}/logs" + QueryString(
        [
            ("rank", query.Rank.ToString(CultureInfo.InvariantCulture)),
            ("stream", query.Stderr ? "stderr" : "stdout"),
            ("attempt", query.Attempt?.ToString(CultureInfo.InvariantCulture)),
            ("follow", query.Follow ? "true" : "false"),
        ]);

        using var timeout = query.Follow ? null : new CancellationTokenSource(RequestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout?.Token ?? CancellationToken.None);
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken, linked.Token).ConfigureAwait(false);
        await ThrowIfErrorAsync(response, linked.Token).ConfigureAwait(false);

        var stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (true)
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(linked.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
            {
                throw StratumUnreachableException.At(Address, e);
            }

            if (line is null)
            {
                yield break;
            }

            yield return line;
        }
    }

    /// <summary>Polls the job until it is Succeeded, Failed or Cancelled and returns it then.</summary>
    public async Task<JobDto> WaitForJobAsync(long id, TimeSpan pollInterval, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var job = await GetJobAsync(id, cancellationToken).ConfigureAwait(false);
            if (JobStates.IsTerminal(job.State))
            {
                return job;
            }

            await Task.Delay(pollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    // Cluster

    public Task<IReadOnlyList<NodeDto>> ListNodesAsync(CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<NodeDto>>(HttpMethod.Get, "api/v1/nodes", null, cancellationToken);

    public Task<NodeDto> GetNodeAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<NodeDto>(HttpMethod.Get, "api/v1/nodes/" + Segment(name), null, cancellationToken);

    public Task<NodeDto> PutNodeAsync(string name, NodeSpecDto node, CancellationToken cancellationToken = default) =>
        SendAsync<NodeDto>(HttpMethod.Put, "api/v1/nodes/" + Segment(name), node, cancellationToken);

    public Task<IReadOnlyList<PoolDto>> ListPoolsAsync(CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<PoolDto>>(HttpMethod.Get, "api/v1/pools", null, cancellationToken);

    public Task<PoolDto> PutPoolAsync(string name, PoolDto pool, CancellationToken cancellationToken = default) =>
        SendAsync<PoolDto>(HttpMethod.Put, "api/v1/pools/" + Segment(name), pool, cancellationToken);

    public Task<IReadOnlyList<ProjectDto>> ListProjectsAsync(CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<ProjectDto>>(HttpMethod.Get, "api/v1/projects", null, cancellationToken);

    public Task<ProjectDto> GetProjectAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<ProjectDto>(HttpMethod.Get, "api/v1/projects/" + Segment(name), null, cancellationToken);

    public Task<ProjectDto> CreateProjectAsync(ProjectDto project, CancellationToken cancellationToken = default) =>
        SendAsync<ProjectDto>(HttpMethod.Post, "api/v1/projects", project, cancellationToken);

    public Task<ProjectDto> SetQuotaAsync(string project, QuotaDto quota, CancellationToken cancellationToken = default) =>
        SendAsync<ProjectDto>(HttpMethod.Put, $"api/v1/projects/{Segment(project)}/quota", quota, cancellationToken);

    public Task<IReadOnlyList<UserDto>> ListUsersAsync(CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<UserDto>>(HttpMethod.Get, "api/v1/users", null, cancellationToken);

    public Task<UserDto> PutUserAsync(string name, UserDto user, CancellationToken cancellationToken = default) =>
        SendAsync<UserDto>(HttpMethod.Put, "api/v1/users/" + Segment(name), user, cancellationToken);

    // Access

    /// <summary>Tokens of <paramref name="user"/>, or of the caller when null.</summary>
    public Task<IReadOnlyList<TokenDto>> ListTokensAsync(string? user = null, CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<TokenDto>>(HttpMethod.Get, "api/v1/tokens" + QueryString([("user", user)]), null, cancellationToken);

    public Task<CreatedTokenDto> CreateTokenAsync(CreateTokenRequest request, CancellationToken cancellationToken = default) =>
        SendAsync<CreatedTokenDto>(HttpMethod.Post, "api/v1/tokens", request, cancellationToken);

    public async Task RevokeTokenAsync(string id, CancellationToken cancellationToken = default)
    {
        using var timeout = new CancellationTokenSource(RequestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var request = new HttpRequestMessage(HttpMethod.Delete, "api/v1/tokens/" + Segment(id));
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken, linked.Token).ConfigureAwait(false);
        await ThrowIfErrorAsync(response, linked.Token).ConfigureAwait(false);
    }

    public Task<ApplyResultDto> ApplyAsync(ApplyRequest request, CancellationToken cancellationToken = default) =>
        SendAsync<ApplyResultDto>(HttpMethod.Post, "api/v1/apply", request, cancellationToken);

    public Task<PageDto<AuditEntryDto>> ListAuditAsync(int? limit = null, string? cursor = null, CancellationToken cancellationToken = default) =>
        SendAsync<PageDto<AuditEntryDto>>(
            HttpMethod.Get,
            "api/v1/audit" + QueryString([("limit", limit?.ToString(CultureInfo.InvariantCulture)), ("cursor", cursor)]),
            null,
            cancellationToken);

    /// <summary>Usage and cost grouped by project, user, pool, job or day over the last <paramref name="since"/> (default 30d).</summary>
    public Task<UsageReportDto> GetUsageAsync(string? by = null, string? since = null, CancellationToken cancellationToken = default) =>
        SendAsync<UsageReportDto>(HttpMethod.Get, "api/v1/usage" + QueryString([("by", by), ("since", since)]), null, cancellationToken);

    public void Dispose() => _http.Dispose();

    internal static string QueryString(IEnumerable<(string Name, string? Value)> parameters)
    {
        var parts = parameters
            .Where(p => !string.IsNullOrEmpty(p.Value))
            .Select(p => $"{Uri.EscapeDataString(p.Name)}={Uri.EscapeDataString(p.Value!)}")
            .ToList();
        return parts.Count == 0 ? string.Empty : "?" + string.Join('&', parts);
    }

    private static string Segment(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        return Uri.EscapeDataString(value);
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private async Task<bool> ProbeAsync(string path, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(RequestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken, linked.Token).ConfigureAwait(false);
        return response.IsSuccessStatusCode;
    }

    private async Task<T> SendAsync<T>(
        HttpMethod method,
        string path,
        object? body,
        CancellationToken cancellationToken,
        Action<HttpRequestMessage>? configure = null)
    {
        using var timeout = new CancellationTokenSource(RequestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: Json);
        }

        configure?.Invoke(request);
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken, linked.Token).ConfigureAwait(false);
        await ThrowIfErrorAsync(response, linked.Token).ConfigureAwait(false);

        try
        {
            var result = await response.Content.ReadFromJsonAsync<T>(Json, linked.Token).ConfigureAwait(false);
            return result ?? throw new StratumApiException(response.StatusCode, "empty response", $"{method} /{path} answered {(int)response.StatusCode} without a body", null);
        }
        catch (JsonException e)
        {
            throw new StratumApiException(response.StatusCode, "unreadable response", $"{method} /{path} answered with JSON this client does not understand: {e.Message}", null);
        }
    }

    /// <summary>Sends, turning a connection failure or timeout (but not the caller's cancellation) into <see cref="StratumUnreachableException"/>.</summary>
    private async Task<HttpResponseMessage> SendRawAsync(
        HttpRequestMessage request,
        HttpCompletionOption completion,
        CancellationToken callerToken,
        CancellationToken token)
    {
        try
        {
            return await _http.SendAsync(request, completion, token).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw StratumUnreachableException.At(Address, e);
        }
        catch (OperationCanceledException e) when (!callerToken.IsCancellationRequested)
        {
            throw new StratumUnreachableException(
                $"the server at {Address} did not answer within {RequestTimeout.TotalSeconds:0}s; check that it is running ('stratum up') and not overloaded",
                Address,
                e);
        }
    }

    private static async Task ThrowIfErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        ProblemDocument? problem = null;
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var mediaType = response.Content.Headers.ContentType?.MediaType ?? string.Empty;
        if (mediaType.Contains("json", StringComparison.OrdinalIgnoreCase) && text.Length > 0)
        {
            try
            {
                problem = JsonSerializer.Deserialize<ProblemDocument>(text, Json);
            }
            catch (JsonException)
            {
                problem = null;
            }
        }

        if (problem is null && response.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.NotFound)
            && !string.IsNullOrWhiteSpace(text) && text.Length < 500 && !text.Contains('\n', StringComparison.Ordinal))
        {
            // A plain-text error line from a proxy or the server's fallback is better than nothing.
            problem = new ProblemDocument { Detail = text.Trim() };
        }

        throw new StratumApiException(response.StatusCode, problem?.Title, problem?.Detail, problem?.Errors, problem?.Type);
    }

    private sealed record ProblemDocument
    {
        public string? Type { get; init; }

        public string? Title { get; init; }

        public int? Status { get; init; }

        public string? Detail { get; init; }

        public Dictionary<string, string[]>? Errors { get; init; }
    }
}
