using System.Collections.Concurrent;
using Stratum.Core.Access;
using Stratum.Persistence;

namespace Stratum.Server.Auth;

/// <summary>
/// Resolves bearer secrets to callers. Lookups are cached for a few seconds because every request needs
/// one and the submit path is measured in thousands per second; revocation through this server clears
/// the cache at once, and the short lifetime bounds how long any other change takes to apply.
/// </summary>
public sealed class TokenAuthenticator(IMetadataStore store, TimeProvider time)
{
    private static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, (User User, ApiToken Token, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);

    public async Task<(User User, ApiToken Token)?> AuthenticateAsync(string secret, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var hash = TokenSecrets.Hash(secret);
        if (_cache.TryGetValue(hash, out var cached) && cached.Until > now)
        {
            return cached.Token.IsActive(now) ? (cached.User, cached.Token) : null;
        }

        var token = await store.Access.FindTokenByHashAsync(hash, cancellationToken);
        if (token is null || !token.IsActive(now))
        {
            _cache.TryRemove(hash, out _);
            return null;
        }

        var user = await store.Access.GetUserAsync(token.UserName, cancellationToken);
        if (user is null)
        {
            return null;
        }

        _cache[hash] = (user, token, now + CacheLifetime);
        return (user, token);
    }

    /// <summary>Forget everything cached, after a token is revoked or a user's roles change.</summary>
    public void Invalidate() => _cache.Clear();
}
