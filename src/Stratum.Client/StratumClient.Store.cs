using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Stratum.Client.Contracts;

namespace Stratum.Client;

/// <summary>The artifact store: /api/v1/repos and /api/v1/store.</summary>
public sealed partial class StratumClient
{
    /// <summary>How long one object upload or download may take. Default 24 hours: artifacts are large.</summary>
    public TimeSpan TransferTimeout { get; set; } = TimeSpan.FromHours(24);

    public Task<IReadOnlyList<RepositoryDto>> ListRepositoriesAsync(CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<RepositoryDto>>(HttpMethod.Get, "api/v1/repos", null, cancellationToken);

    public Task<RepositoryDto> CreateRepositoryAsync(CreateRepositoryRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendAsync<RepositoryDto>(HttpMethod.Post, "api/v1/repos", request, cancellationToken);
    }

    public Task<RepositoryDto> GetRepositoryAsync(string repository, CancellationToken cancellationToken = default) =>
        SendAsync<RepositoryDto>(HttpMethod.Get, $"api/v1/repos/{Segment(repository)}", null, cancellationToken);

    public Task DeleteRepositoryAsync(string repository, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, $"api/v1/repos/{Segment(repository)}", cancellationToken);

    public Task<IReadOnlyList<RefDto>> ListBranchesAsync(string repository, CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<RefDto>>(HttpMethod.Get, $"api/v1/repos/{Segment(repository)}/branches", null, cancellationToken);

    public Task<RefDto> CreateBranchAsync(string repository, string name, string fromRef, CancellationToken cancellationToken = default) =>
        SendAsync<RefDto>(HttpMethod.Post, $"api/v1/repos/{Segment(repository)}/branches", new CreateRefRequest { Name = name, Ref = fromRef }, cancellationToken);

    public Task DeleteBranchAsync(string repository, string name, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, $"api/v1/repos/{Segment(repository)}/branches/{Segment(name)}", cancellationToken);

    public Task<IReadOnlyList<RefDto>> ListTagsAsync(string repository, CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<RefDto>>(HttpMethod.Get, $"api/v1/repos/{Segment(repository)}/tags", null, cancellationToken);

    public Task<RefDto> CreateTagAsync(string repository, string name, string atRef, CancellationToken cancellationToken = default) =>
        SendAsync<RefDto>(HttpMethod.Post, $"api/v1/repos/{Segment(repository)}/tags", new CreateRefRequest { Name = name, Ref = atRef }, cancellationToken);

    public Task DeleteTagAsync(string repository, string name, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, $"api/v1/repos/{Segment(repository)}/tags/{Segment(name)}", cancellationToken);

    /// <summary>One page of objects and common prefixes at <paramref name="reference"/>, in path order.</summary>
    public Task<StoreListingDto> ListObjectsAsync(
        string repository, string reference, string? prefix = null, string? delimiter = null, string? after = null, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<StoreListingDto>(
            HttpMethod.Get,
            $"api/v1/repos/{Segment(repository)}/refs/{Segment(reference)}/objects"
                + QueryString([("prefix", prefix), ("delimiter", delimiter), ("after", after), ("limit", limit?.ToString(CultureInfo.InvariantCulture))]),
            null,
            cancellationToken);

    /// <summary>Every object (and common prefix, with a delimiter) under <paramref name="prefix"/>, page after page.</summary>
    public async IAsyncEnumerable<StoreListingDto> ListAllObjectsAsync(
        string repository, string reference, string? prefix = null, string? delimiter = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? after = null;
        while (true)
        {
            var page = await ListObjectsAsync(repository, reference, prefix, delimiter, after, null, cancellationToken).ConfigureAwait(false);
            yield return page;
            if (!page.IsTruncated || page.NextAfter is null)
            {
                yield break;
            }

            after = page.NextAfter;
        }
    }

    /// <summary>
    /// Uploads <paramref name="content"/> to <paramref name="path"/> on <paramref name="branch"/>, streamed, as a
    /// staged change; <paramref name="progress"/> gets the bytes sent so far.
    /// </summary>
    public async Task<StoreObjectDto> PutObjectAsync(
        string repository, string branch, string path, Stream content, string? contentType = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var timeout = new CancellationTokenSource(TransferTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var request = new HttpRequestMessage(HttpMethod.Put, ObjectPath(repository, "branches", branch, path));
        var body = new StreamContent(progress is null ? content : new ProgressStream(content, progress), 1 << 20);
        body.Headers.ContentType = new MediaTypeHeaderValue(contentType ?? "application/octet-stream");
        if (content.CanSeek)
        {
            body.Headers.ContentLength = content.Length - content.Position;
        }

        request.Content = body;
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken, linked.Token).ConfigureAwait(false);
        await ThrowIfErrorAsync(response, linked.Token).ConfigureAwait(false);
        return await ReadJsonAsync<StoreObjectDto>(response, linked.Token).ConfigureAwait(false);
    }

    public Task DeleteObjectAsync(string repository, string branch, string path, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, ObjectPath(repository, "branches", branch, path), cancellationToken);

    /// <summary>Drops the branch's staged (uncommitted) changes.</summary>
    public Task ResetBranchAsync(string repository, string branch, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, $"api/v1/repos/{Segment(repository)}/branches/{Segment(branch)}/staged", cancellationToken);

    /// <summary>
    /// Opens <paramref name="path"/> at <paramref name="reference"/> for reading, streamed; with an offset (and
    /// length), a ranged read. The caller disposes the stream.
    /// </summary>
    public async Task<Stream> OpenObjectAsync(
        string repository, string reference, string path, long offset = 0, long? length = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, ObjectPath(repository, "refs", reference, path));
        if (offset > 0 || length is not null)
        {
            request.Headers.Range = new RangeHeaderValue(offset, length is { } l ? offset + l - 1 : null);
        }

        // The caller reads at its own pace, so only its token and the transfer limit apply.
        var timeout = new CancellationTokenSource(TransferTimeout);
        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var response = await SendRawAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken, linked.Token).ConfigureAwait(false);
        try
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                response.Dispose();
                return new MemoryStream([], writable: false);
            }

            await ThrowIfErrorAsync(response, linked.Token).ConfigureAwait(false);
            return new OwnedStream(await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false), response, linked, timeout);
        }
        catch
        {
            response.Dispose();
            linked.Dispose();
            timeout.Dispose();
            throw;
        }
    }

    public Task<CommitDto> CommitAsync(string repository, string branch, CommitRequestDto request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendAsync<CommitDto>(HttpMethod.Post, $"api/v1/repos/{Segment(repository)}/branches/{Segment(branch)}/commits", request, cancellationToken);
    }

    /// <summary>The commits reachable from <paramref name="reference"/>, newest first.</summary>
    public Task<IReadOnlyList<CommitDto>> LogAsync(string repository, string reference, int? limit = null, CancellationToken cancellationToken = default) =>
        SendAsync<IReadOnlyList<CommitDto>>(
            HttpMethod.Get,
            $"api/v1/repos/{Segment(repository)}/refs/{Segment(reference)}/log" + QueryString([("limit", limit?.ToString(CultureInfo.InvariantCulture))]),
            null,
            cancellationToken);

    public Task<StoreDiffDto> DiffAsync(string repository, string fromRef, string toRef, string? prefix = null, CancellationToken cancellationToken = default) =>
        SendAsync<StoreDiffDto>(HttpMethod.Get, $"api/v1/repos/{Segment(repository)}/diff" + QueryString([("from", fromRef), ("to", toRef), ("prefix", prefix)]), null, cancellationToken);

    public Task<DiskUsageDto> DiskUsageAsync(string repository, CancellationToken cancellationToken = default) =>
        SendAsync<DiskUsageDto>(HttpMethod.Get, $"api/v1/repos/{Segment(repository)}/du", null, cancellationToken);

    /// <summary>Garbage collection (admins); it re-reads every live commit, so it gets the transfer timeout.</summary>
    public Task<GcReportDto> CollectGarbageAsync(string? grace = null, CancellationToken cancellationToken = default) =>
        WithTransferTimeout(() => SendAsync<GcReportDto>(HttpMethod.Post, "api/v1/store/gc", new GcRequest { Grace = grace }, cancellationToken));

    /// <summary>Re-reads and re-hashes everything (admins); as long as reading the whole store takes.</summary>
    public Task<VerifyReportDto> VerifyStoreAsync(CancellationToken cancellationToken = default) =>
        WithTransferTimeout(() => SendAsync<VerifyReportDto>(HttpMethod.Post, "api/v1/store/verify", null, cancellationToken));

    private async Task<T> WithTransferTimeout<T>(Func<Task<T>> call)
    {
        // RequestTimeout is read when the request starts, so a long maintenance call borrows the transfer limit.
        var saved = RequestTimeout;
        RequestTimeout = TransferTimeout;
        try
        {
            return await call().ConfigureAwait(false);
        }
        finally
        {
            RequestTimeout = saved;
        }
    }

    private async Task SendNoContentAsync(HttpMethod method, string path, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(RequestTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var request = new HttpRequestMessage(method, path);
        using var response = await SendRawAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken, linked.Token).ConfigureAwait(false);
        await ThrowIfErrorAsync(response, linked.Token).ConfigureAwait(false);
    }

    private static async Task<T> ReadJsonAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<T>(response.Content, Json, cancellationToken).ConfigureAwait(false)
                ?? throw new StratumApiException(response.StatusCode, "empty response", "the server answered without a body", null);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new StratumApiException(response.StatusCode, "unreadable response", $"the server answered with JSON this client does not understand: {e.Message}", null);
        }
    }

    private static string ObjectPath(string repository, string kind, string reference, string path) =>
        $"api/v1/repos/{Segment(repository)}/{kind}/{Segment(reference)}/object" + QueryString([("path", path)]);

    /// <summary>Reports the bytes read through it.</summary>
    private sealed class ProgressStream(Stream inner, IProgress<long> progress) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => inner.CanSeek;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int read)
        {
            _read += read;
            progress.Report(_read);
            return read;
        }
    }

    /// <summary>A response body that disposes its response and timeout with it.</summary>
    private sealed class OwnedStream(Stream inner, params IDisposable[] owned) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                foreach (var item in owned)
                {
                    item.Dispose();
                }
            }

            base.Dispose(disposing);
        }
    }
}
