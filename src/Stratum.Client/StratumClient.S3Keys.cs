using Stratum.Client.Contracts;

namespace Stratum.Client
{
    /// <summary>Access keys of the S3 endpoint: /api/v1/store/keys.</summary>
    public sealed partial class StratumClient
    {
        /// <summary>Creates a key for the caller; the secret is in this answer and nowhere else, ever.</summary>
        public Task<CreatedS3KeyDto> CreateS3KeyAsync(CancellationToken cancellationToken = default) =>
            SendAsync<CreatedS3KeyDto>(HttpMethod.Post, "api/v1/store/keys", null, cancellationToken);

        /// <summary>The caller's keys (an admin's: everyone's), without secrets.</summary>
        public Task<IReadOnlyList<S3KeyDto>> ListS3KeysAsync(CancellationToken cancellationToken = default) =>
            SendAsync<IReadOnlyList<S3KeyDto>>(HttpMethod.Get, "api/v1/store/keys", null, cancellationToken);

        /// <summary>Gives the key a new secret, in this answer only; the old secret stops working at once.</summary>
        public Task<CreatedS3KeyDto> RotateS3KeyAsync(string accessKeyId, CancellationToken cancellationToken = default)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(accessKeyId);
            return SendAsync<CreatedS3KeyDto>(HttpMethod.Post, $"api/v1/store/keys/{Uri.EscapeDataString(accessKeyId)}/rotate", null, cancellationToken);
        }

        public Task DeleteS3KeyAsync(string accessKeyId, CancellationToken cancellationToken = default)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(accessKeyId);
            return SendNoContentAsync(HttpMethod.Delete, $"api/v1/store/keys/{Uri.EscapeDataString(accessKeyId)}", cancellationToken);
        }
    }
}

namespace Stratum.Client.Contracts
{
    /// <summary>An S3 access key as listed: never its secret.</summary>
    public sealed record S3KeyDto
    {
        public required string AccessKeyId { get; init; }

        public required string User { get; init; }

        public DateTimeOffset CreatedAt { get; init; }
    }

    /// <summary>A key just created or rotated: the only answers that carry <see cref="SecretAccessKey"/>.</summary>
    public sealed record CreatedS3KeyDto
    {
        public required string AccessKeyId { get; init; }

        public required string SecretAccessKey { get; init; }

        public required string User { get; init; }

        public DateTimeOffset CreatedAt { get; init; }

        public override string ToString() => $"CreatedS3KeyDto {{ AccessKeyId = {AccessKeyId}, User = {User} }}";
    }
}
