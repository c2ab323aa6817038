using System.Collections.Concurrent;
using Stratum.Persistence;
using Stratum.S3.Auth;

namespace Stratum.Server.Store.S3;

/// <summary>
/// S3 credentials from the metadata store's <c>s3_access_keys</c>, secrets opened with the
/// <see cref="S3SecretBox"/>. Found keys are cached for <see cref="CacheLifetime"/> so a burst of requests
/// costs one query; unknown keys are not cached, so a new key works at once. A key deleted through this
/// server is dropped from the cache at once (<see cref="Forget"/>); through another replica, it stops
/// working here within the cache lifetime.
/// </summary>
public sealed class MetadataS3CredentialStore(IMetadataStore store, S3SecretBox box, TimeProvider time) : IS3CredentialStore
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, (S3Credential Credential, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);

    public async ValueTask<S3Credential?> FindAsync(string accessKeyId, CancellationToken cancellationToken)
    {
        var credential = await LookUpAsync(accessKeyId, cancellationToken);
        if (credential is not null && S3CallScope.Current is { } scope)
        {
            scope.Principal = credential.Principal;
        }

        return credential;
    }

    public void Forget(string accessKeyId) => _cache.TryRemove(accessKeyId, out _);

    private async ValueTask<S3Credential?> LookUpAsync(string accessKeyId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_cache.TryGetValue(accessKeyId, out var cached) && cached.Until > now)
        {
            return cached.Credential;
        }

        if (!S3AccessKeys.LooksLikeId(accessKeyId))
        {
            return null;
        }

        var key = await store.S3Keys.GetAsync(accessKeyId, cancellationToken);
        if (key is null)
        {
            _cache.TryRemove(accessKeyId, out _);
            return null;
        }

        var credential = new S3Credential(key.Id, box.Open(key.Id, key.SealedSecret), key.UserName);
        _cache[accessKeyId] = (credential, now + CacheLifetime);
        return credential;
    }
}
