using System.Security.Cryptography;
using Stratum.Storage.Backends;

namespace Stratum.Storage.Tiering;

/// <summary>Copying a blob between backends and proving the copy: same length and same SHA-256, read back from the target.</summary>
internal static class TierCopy
{
    /// <summary>Length and SHA-256 of a blob, streamed; null when there is no blob.</summary>
    public static async Task<(long Length, byte[] Sha256)?> HashAsync(IBlobBackend backend, string name, CancellationToken cancellationToken)
    {
        var stream = await backend.OpenReadAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        await using (stream.ConfigureAwait(false))
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[1 << 20];
            long length = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                length += read;
            }

            return (length, hash.GetHashAndReset());
        }
    }

    /// <summary>
    /// Copies <paramref name="name"/> from <paramref name="source"/> to <paramref name="target"/> and reads the
    /// copy back. False (nothing done) when the source has no such blob; an <see cref="IOException"/> when the
    /// copy does not match (the bad copy is removed from the target, the source is untouched).
    /// </summary>
    public static async Task<(bool Copied, long Bytes)> CopyVerifiedAsync(IBlobBackend source, IBlobBackend target, string name, CancellationToken cancellationToken)
    {
        if (await HashAsync(source, name, cancellationToken).ConfigureAwait(false) is not { } expected)
        {
            return (false, 0);
        }

        var stream = await source.OpenReadAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return (false, 0);
        }

        await using (stream.ConfigureAwait(false))
        {
            await target.PutAsync(name, stream, cancellationToken).ConfigureAwait(false);
        }

        if (await MatchesAsync(target, name, expected, cancellationToken).ConfigureAwait(false) is { } problem)
        {
            try
            {
                await target.DeleteAsync(name, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The bad copy stays; it is never trusted: every later move verifies again before deleting the source.
            }

            throw new IOException($"copy of {name} from {source.Description} to {target.Description} did not verify: {problem}");
        }

        return (true, expected.Length);
    }

    /// <summary>Null when <paramref name="target"/> holds exactly the bytes <paramref name="expected"/> describes, else what differs.</summary>
    public static async Task<string?> MatchesAsync(IBlobBackend target, string name, (long Length, byte[] Sha256) expected, CancellationToken cancellationToken)
    {
        if (await HashAsync(target, name, cancellationToken).ConfigureAwait(false) is not { } actual)
        {
            return "the copy is missing";
        }

        if (actual.Length != expected.Length)
        {
            return $"the copy has {actual.Length} bytes, the original {expected.Length}";
        }

        return actual.Sha256.AsSpan().SequenceEqual(expected.Sha256) ? null : "the copy's SHA-256 differs from the original's";
    }
}
