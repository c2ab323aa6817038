using Stratum.Core.Access;

namespace Stratum.Persistence;

/// <summary>
/// An access key of the S3 endpoint, owned by a user. SigV4 needs the secret itself on the server (it
/// signs the request again and compares), so it cannot be stored hashed like an API token:
/// <see cref="SealedSecret"/> is the secret encrypted by the server (AES-256-GCM under the S3 key file
/// of the data directory); the metadata store never sees it in clear.
/// </summary>
public sealed record S3AccessKey
{
    public required string Id { get; init; }

    public required string UserName { get; init; }

    /// <summary>The encrypted secret, opaque to the store.</summary>
    public required string SealedSecret { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    // The sealed secret is not a secret in clear, but it has no business in logs either.
    public override string ToString() => $"S3AccessKey {{ Id = {Id}, UserName = {UserName}, CreatedAt = {CreatedAt:O} }}";
}

/// <summary>The S3 access keys (table s3_access_keys). Every change commits together with its audit record.</summary>
public interface IS3KeyRepository
{
    Task CreateAsync(S3AccessKey key, AuditRecord? audit, CancellationToken cancellationToken = default);

    Task<S3AccessKey?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Keys of one user, or of everyone when <paramref name="userName"/> is null, oldest first.</summary>
    Task<IReadOnlyList<S3AccessKey>> ListAsync(string? userName, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the key's sealed secret (rotation: same id, new secret, so the old one stops working);
    /// false when there is no such key (and then nothing is audited).
    /// </summary>
    Task<bool> ReplaceSecretAsync(string id, string sealedSecret, AuditRecord? audit, CancellationToken cancellationToken = default);

    /// <summary>Removes the key; false when there was none (and then nothing is audited).</summary>
    Task<bool> DeleteAsync(string id, AuditRecord? audit, CancellationToken cancellationToken = default);
}
