using System.Security.Cryptography;

namespace Stratum.Storage.Format;

/// <summary>How <see cref="ChunkStore.WriteAsync(Stream, WriteOptions, IProgress{long}?, CancellationToken)"/> fills <see cref="StoredContent.Md5"/>.</summary>
public enum ContentMd5Mode
{
    /// <summary>
    /// Hex MD5 of the whole content: the ETag of an S3 single-PUT object, so the S3 endpoint's PUT must use
    /// it. MD5 of one stream is sequential: ~775 MB/s on one core of the bench machine, whatever the core count.
    /// </summary>
    Whole,

    /// <summary>
    /// Content up to <see cref="ContentMd5.PartSize"/>: hex MD5, as <see cref="Whole"/>. Longer content:
    /// S3's multipart form over fixed parts of <see cref="ContentMd5.PartSize"/>, hex MD5 of the
    /// concatenated part MD5s then <c>-N</c> (N parts), which is the ETag aws-cli's default 8 MiB
    /// multipart upload gives the same file. Parts are hashed in parallel, so MD5 stops being a
    /// sequential ceiling; S3 clients treat an ETag with a dash as "not an MD5" and do not compare it
    /// with the body. For bulk ingest (REST and CLI uploads, directories), never for S3 single PUTs.
    /// </summary>
    Parts,
}

/// <summary>Options of one content write.</summary>
public sealed record WriteOptions
{
    /// <summary>false: the last chunks may stay in an open pack; call <see cref="ChunkStore.FlushAsync"/> before anything durable refers to the result.</summary>
    public bool Flush { get; init; } = true;

    public ContentMd5Mode Md5 { get; init; } = ContentMd5Mode.Whole;
}

/// <summary>The <see cref="ContentMd5Mode.Parts"/> checksum, computed the slow, obvious way: for checks and tests.</summary>
public static class ContentMd5
{
    /// <summary>8 MiB: aws-cli's default multipart chunk size, and 1,250 parts for a 10 GB file (S3 allows 10,000).</summary>
    public const int PartSize = 8 * 1024 * 1024;

    /// <summary>The <see cref="ContentMd5Mode.Parts"/> value of <paramref name="content"/>, read to its end.</summary>
    public static async Task<string> PartsAsync(Stream content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var part = new byte[PartSize];
        using var partMd5s = new MemoryStream();
        var parts = 0;
        long total = 0;
        while (true)
        {
            var read = await content.ReadAtLeastAsync(part, PartSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (read == 0 && parts > 0)
            {
                break;
            }

            partMd5s.Write(MD5.HashData(part.AsSpan(0, read)));
            parts++;
            total += read;
            if (read < PartSize)
            {
                break;
            }
        }

        return Combine(partMd5s.ToArray(), parts, total);
    }

    /// <summary>The value from the part MD5s (16 bytes each, in order) of content of <paramref name="length"/> bytes.</summary>
    internal static string Combine(ReadOnlySpan<byte> partMd5s, int parts, long length) =>
        length <= PartSize
            ? Convert.ToHexStringLower(partMd5s[..16])
            : $"{Convert.ToHexStringLower(MD5.HashData(partMd5s[..(parts * 16)]))}-{parts}";
}
