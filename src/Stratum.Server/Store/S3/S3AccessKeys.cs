using System.Security.Cryptography;
using Stratum.Core.Access;
using Stratum.Persistence;

namespace Stratum.Server.Store.S3;

/// <summary>A freshly created access key: the only moment its secret is shown.</summary>
public sealed record CreatedS3Key(string AccessKeyId, string SecretAccessKey, string UserName, DateTimeOffset CreatedAt)
{
    public override string ToString() => $"CreatedS3Key {{ AccessKeyId = {AccessKeyId}, UserName = {UserName} }}";
}

/// <summary>Creates S3 access keys: AWS-shaped ids (20 upper-case characters) and 40-character secrets, sealed before they are stored.</summary>
public static class S3AccessKeys
{
    public const string IdPrefix = "STK";

    private const string IdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    /// <summary>Creates and stores a key for <paramref name="userName"/>; <paramref name="audit"/> makes the audit record from the new id (same transaction).</summary>
    public static async Task<CreatedS3Key> CreateAsync(
        IMetadataStore store, S3SecretBox box, string userName, DateTimeOffset now, Func<string, AuditRecord>? audit, CancellationToken cancellationToken)
    {
        var id = IdPrefix + new string(RandomNumberGenerator.GetItems<char>(IdAlphabet, 17));

        var secret = NewSecret();
        var record = new S3AccessKey { Id = id, UserName = userName, SealedSecret = box.Seal(id, secret), CreatedAt = now };
        await store.S3Keys.CreateAsync(record, audit?.Invoke(id), cancellationToken);
        return new CreatedS3Key(id, secret, userName, now);
    }

    /// <summary>
    /// Gives an existing key a new secret, sealed like a new one; the id, owner and creation time stay, so
    /// clients change only the secret. Null when the key is gone (deleted meanwhile).
    /// </summary>
    public static async Task<CreatedS3Key?> RotateAsync(
        IMetadataStore store, S3SecretBox box, S3AccessKey key, AuditRecord? audit, CancellationToken cancellationToken)
    {
        var secret = NewSecret();
        return await store.S3Keys.ReplaceSecretAsync(key.Id, box.Seal(key.Id, secret), audit, cancellationToken)
            ? new CreatedS3Key(key.Id, secret, key.UserName, key.CreatedAt)
            : null;
    }

    /// <summary>Whether the text could be an access key id at all (so garbage never reaches the database).</summary>
    public static bool LooksLikeId(string? id) =>
        id is { Length: 20 } && id.StartsWith(IdPrefix, StringComparison.Ordinal) && id.AsSpan(IdPrefix.Length).IndexOfAnyExcept(IdAlphabet) < 0;

    // 30 random bytes in base64: 40 characters, the length and alphabet of an AWS secret key.
    private static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(30));
}
