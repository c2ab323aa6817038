namespace Stratum.Client;

/// <summary>The job history export: GET /api/v1/jobs/export.</summary>
public sealed partial class StratumClient
{
    /// <summary>
    /// Opens the finished jobs submitted within <paramref name="since"/> (for example "30d") as the
    /// simulator's trace format, <paramref name="format"/> "jsonl" or "csv", streamed. The caller disposes the stream.
    /// </summary>
    public async Task<Stream> ExportJobsAsync(string? since, string format, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/jobs/export" + QueryString([("since", since), ("format", format)]));
        var timeout = new CancellationTokenSource(TransferTimeout);
        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var response = await SendRawAsync(request, System.Net.Http.HttpCompletionOption.ResponseHeadersRead, cancellationToken, linked.Token).ConfigureAwait(false);
        try
        {
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
}
