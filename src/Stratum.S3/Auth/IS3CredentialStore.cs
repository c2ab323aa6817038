using System.Collections.Concurrent;

namespace Stratum.S3.Auth;

/// <summary>An access key: its secret and the principal (user) requests signed with it act as.</summary>
public sealed record S3Credential(string AccessKeyId, string SecretAccessKey, string Principal)
{
    // The secret never reaches logs through a record's generated ToString.
    public override string ToString() => $"S3Credential {{ AccessKeyId = {AccessKeyId}, Principal = {Principal} }}";
}

/// <summary>Finds the secret for an access key id; null when the key is unknown (InvalidAccessKeyId).</summary>
public interface IS3CredentialStore
{
    ValueTask<S3Credential?> FindAsync(string accessKeyId, CancellationToken cancellationToken);
}

/// <summary>Credentials held in memory: for tests, and for a single-user <c>stratum up</c>.</summary>
public sealed class InMemoryS3CredentialStore : IS3CredentialStore
{
    private readonly ConcurrentDictionary<string, S3Credential> _keys = new(StringComparer.Ordinal);

    public InMemoryS3CredentialStore(params IEnumerable<S3Credential> credentials)
    {
        foreach (var credential in credentials)
        {
            Add(credential);
        }
    }

    public void Add(S3Credential credential) => _keys[credential.AccessKeyId] = credential;

    public ValueTask<S3Credential?> FindAsync(string accessKeyId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_keys.GetValueOrDefault(accessKeyId));
}
