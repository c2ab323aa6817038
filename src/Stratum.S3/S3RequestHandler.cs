using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Xml;
using System.Xml.Linq;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Stratum.S3.Auth;
using Stratum.S3.Backend;
using Stratum.S3.Protocol;
using Stratum.S3.Streaming;

namespace Stratum.S3;

/// <summary>
/// Serves one S3 request, path-style (<c>/BUCKET/KEY?subresource</c>): 1. parse the raw target,
/// 2. authenticate (SigV4 header or presigned query), 3. validate names, 4. dispatch on method and
/// subresource to one operation, which writes the response or returns an S3 error written as XML.
/// </summary>
internal sealed class S3RequestHandler(IS3Backend backend, S3Authenticator authenticator, S3EndpointOptions options, ILogger logger)
{
    private const string MetaPrefix = "x-amz-meta-";
    private const int CopyBufferSize = 128 * 1024;
    private const int MaxXmlBody = 2 * 1024 * 1024;
    private const int MaxParts = 10_000;

    public async Task HandleAsync(HttpContext context)
    {
        var requestId = Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        var response = context.Response;
        response.Headers["x-amz-request-id"] = requestId;
        var target = S3Target.Parse(context);
        string operation = "?";
        string? principal = null;
        try
        {
            var (auth, authError) = await authenticator.AuthenticateAsync(context.Request, target.Path, target.Query, context.RequestAborted);
            if (authError is not null)
            {
                await WriteErrorAsync(context, authError, target, requestId);
                return;
            }

            principal = auth!.Credential.Principal;
            var (name, error) = await DispatchAsync(context, target, auth);
            operation = name;
            if (error is not null)
            {
                await WriteErrorAsync(context, error, target, requestId);
            }
        }
        catch (S3ProtocolException e)
        {
            await WriteErrorAsync(context, e.Error, target, requestId);
        }
        catch (BadHttpRequestException e)
        {
            await WriteErrorAsync(context, S3Errors.IncompleteBody.WithMessage(e.Message), target, requestId);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            S3Log.Failed(logger, e, requestId);
            await WriteErrorAsync(context, S3Errors.InternalError, target, requestId);
        }

        S3Log.Request(logger, context.Request.Method, operation, target.Bucket, principal, response.StatusCode, requestId);
    }

    private async Task<(string Operation, S3Error? Error)> DispatchAsync(HttpContext context, S3Target target, S3AuthResult auth)
    {
        var method = context.Request.Method;
        var ct = context.RequestAborted;
        if (target.Bucket is null)
        {
            return method == "GET"
                ? ("ListBuckets", await ListBucketsAsync(context, auth, ct))
                : ("?", S3Errors.MethodNotAllowed);
        }

        if (S3Names.ValidateBucket(target.Bucket) is { } bucketError)
        {
            return ("?", bucketError);
        }

        if (target.Key is null)
        {
            return (method, target) switch
            {
                ("PUT", _) => ("CreateBucket", await CreateBucketAsync(context, target.Bucket, ct)),
                ("HEAD", _) => ("HeadBucket", await HeadBucketAsync(context, target.Bucket, ct)),
                ("DELETE", _) => ("DeleteBucket", await DeleteBucketAsync(context, target.Bucket, ct)),
                ("GET", _) when target.Has("location") => ("GetBucketLocation", await GetBucketLocationAsync(context, target.Bucket, ct)),
                ("GET", _) when target.Has("uploads") => ("ListMultipartUploads", await ListUploadsAsync(context, target, ct)),
                ("GET", _) when target.Has("versions") => ("ListObjectVersions", await ListAsync(context, target, ListKind.Versions, ct)),
                ("GET", _) when target.Has("versioning") => ("GetBucketVersioning", await GetVersioningAsync(context, target.Bucket, ct)),
                ("GET", _) when target.Get("list-type") == "2" => ("ListObjectsV2", await ListAsync(context, target, ListKind.V2, ct)),
                ("GET", _) when !target.HasOtherSubresource() => ("ListObjects", await ListAsync(context, target, ListKind.V1, ct)),
                ("POST", _) when target.Has("delete") => ("DeleteObjects", await DeleteObjectsAsync(context, target.Bucket, auth, ct)),
                _ => ("?", S3Errors.NotImplemented),
            };
        }

        if (S3Names.ValidateKey(target.Key) is { } keyError)
        {
            return ("?", keyError);
        }

        var uploadId = target.Get("uploadId");
        return method switch
        {
            "PUT" when uploadId is not null && context.Request.Headers.ContainsKey("x-amz-copy-source") => ("UploadPartCopy", S3Errors.NotImplemented),
            "PUT" when uploadId is not null => ("UploadPart", await UploadPartAsync(context, target, uploadId, auth, ct)),
            "PUT" when context.Request.Headers.ContainsKey("x-amz-copy-source") => ("CopyObject", await CopyObjectAsync(context, target, ct)),
            "PUT" when !target.HasOtherSubresource() => ("PutObject", await PutObjectAsync(context, target, auth, ct)),
            "GET" when uploadId is not null => ("ListParts", await ListPartsAsync(context, target, uploadId, ct)),
            "GET" when !target.HasOtherSubresource() => ("GetObject", await GetObjectAsync(context, target, headOnly: false, ct)),
            "HEAD" => ("HeadObject", await GetObjectAsync(context, target, headOnly: true, ct)),
            "DELETE" when uploadId is not null => ("AbortMultipartUpload", await AbortAsync(context, target, uploadId, ct)),
            "DELETE" => ("DeleteObject", await DeleteObjectAsync(context, target, ct)),
            "POST" when target.Has("uploads") => ("CreateMultipartUpload", await CreateUploadAsync(context, target, ct)),
            "POST" when uploadId is not null => ("CompleteMultipartUpload", await CompleteAsync(context, target, uploadId, auth, ct)),
            _ => ("?", S3Errors.NotImplemented),
        };
    }

    private async Task<S3Error?> ListBucketsAsync(HttpContext context, S3AuthResult auth, CancellationToken ct)
    {
        using var xml = new S3Xml("ListAllMyBucketsResult");
        xml.Open("Owner").Element("ID", auth.Credential.Principal).Element("DisplayName", auth.Credential.Principal).Close();
        xml.Open("Buckets");
        await foreach (var bucket in backend.ListBucketsAsync(ct))
        {
            xml.Open("Bucket").Element("Name", bucket.Name).Element("CreationDate", bucket.CreatedAt).Close();
        }

        xml.Close();
        await WriteXmlAsync(context, xml);
        return null;
    }

    private async Task<S3Error?> CreateBucketAsync(HttpContext context, string bucket, CancellationToken ct)
    {
        // The body may name a LocationConstraint; there is one region, so it is read and ignored.
        await DrainAsync(context.Request.Body, ct);
        var status = await backend.CreateBucketAsync(bucket, ct);
        if (status != S3Status.Ok)
        {
            return ToError(status);
        }

        context.Response.Headers.Location = "/" + bucket;
        return null;
    }

    private async Task<S3Error?> HeadBucketAsync(HttpContext context, string bucket, CancellationToken ct)
    {
        var head = await backend.HeadBucketAsync(bucket, ct);
        if (!head.IsOk)
        {
            return ToError(head.Status);
        }

        context.Response.Headers["x-amz-bucket-region"] = options.Region;
        return null;
    }

    private async Task<S3Error?> DeleteBucketAsync(HttpContext context, string bucket, CancellationToken ct)
    {
        var status = await backend.DeleteBucketAsync(bucket, ct);
        if (status != S3Status.Ok)
        {
            return ToError(status);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return null;
    }

    private async Task<S3Error?> GetBucketLocationAsync(HttpContext context, string bucket, CancellationToken ct)
    {
        var head = await backend.HeadBucketAsync(bucket, ct);
        if (!head.IsOk)
        {
            return ToError(head.Status);
        }

        // AWS answers an empty LocationConstraint for us-east-1; clients map that back to us-east-1.
        await WriteXmlAsync(context, new S3XmlText(options.Region == "us-east-1" ? string.Empty : options.Region));
        return null;
    }

    private async Task<S3Error?> GetVersioningAsync(HttpContext context, string bucket, CancellationToken ct)
    {
        var head = await backend.HeadBucketAsync(bucket, ct);
        if (!head.IsOk)
        {
            return ToError(head.Status);
        }

        using var xml = new S3Xml("VersioningConfiguration");
        await WriteXmlAsync(context, xml);
        return null;
    }

    private enum ListKind
    {
        V1,
        V2,
        Versions,
    }

    private async Task<S3Error?> ListAsync(HttpContext context, S3Target target, ListKind kind, CancellationToken ct)
    {
        var bucket = target.Bucket!;
        var prefix = target.Get("prefix") ?? string.Empty;
        var delimiter = target.Get("delimiter");
        if (delimiter?.Length == 0)
        {
            delimiter = null;
        }

        var encodingType = target.Get("encoding-type");
        if (encodingType is not null && encodingType != "url")
        {
            return S3Errors.InvalidArgument.WithMessage("Invalid Encoding Method specified in Request");
        }

        var maxKeys = S3Listing.MaxKeysLimit;
        if (target.Get("max-keys") is { } maxKeysText)
        {
            if (!int.TryParse(maxKeysText, NumberStyles.None, CultureInfo.InvariantCulture, out maxKeys))
            {
                return S3Errors.InvalidArgument.WithMessage("max-keys must be a non-negative integer.");
            }

            maxKeys = Math.Min(maxKeys, S3Listing.MaxKeysLimit);
        }

        string? marker;
        var token = target.Get("continuation-token");
        var startAfter = target.Get("start-after");
        switch (kind)
        {
            case ListKind.V2 when token is not null:
                marker = S3Listing.DecodeToken(token);
                if (marker is null)
                {
                    return S3Errors.InvalidArgument.WithMessage("The continuation token provided is incorrect.");
                }

                break;
            case ListKind.V2:
                marker = string.IsNullOrEmpty(startAfter) ? null : startAfter;
                break;
            case ListKind.Versions:
                marker = target.Get("key-marker");
                break;
            default:
                marker = target.Get("marker");
                break;
        }

        if (marker?.Length == 0)
        {
            marker = null;
        }

        var head = await backend.HeadBucketAsync(bucket, ct);
        if (!head.IsOk)
        {
            return ToError(head.Status);
        }

        // Start the backend at the marker; a common-prefix marker still needs its keys skipped, which PageAsync does.
        var page = await S3Listing.PageAsync(backend.ListObjectsAsync(bucket, prefix, marker, ct), prefix, delimiter, marker, maxKeys, ct);
        var url = encodingType == "url";
        string E(string value) => url ? SigV4.UriEncode(value, keepSlash: true) : value;

        using var xml = new S3Xml(kind == ListKind.Versions ? "ListVersionsResult" : "ListBucketResult");
        xml.Element("Name", bucket).Element("Prefix", E(prefix));
        switch (kind)
        {
            case ListKind.V2:
                xml.Element("KeyCount", page.Objects.Count + page.CommonPrefixes.Count);
                if (token is not null)
                {
                    xml.Element("ContinuationToken", token);
                }

                if (page.NextMarker is not null)
                {
                    xml.Element("NextContinuationToken", S3Listing.EncodeToken(page.NextMarker));
                }

                if (!string.IsNullOrEmpty(startAfter))
                {
                    xml.Element("StartAfter", E(startAfter));
                }

                break;
            case ListKind.Versions:
                xml.Element("KeyMarker", E(marker ?? string.Empty)).Element("VersionIdMarker", string.Empty);
                if (page.NextMarker is not null)
                {
                    xml.Element("NextKeyMarker", E(page.NextMarker)).Element("NextVersionIdMarker", "null");
                }

                break;
            default:
                xml.Element("Marker", E(marker ?? string.Empty));
                if (page.NextMarker is not null)
                {
                    xml.Element("NextMarker", E(page.NextMarker));
                }

                break;
        }

        xml.Element("MaxKeys", maxKeys);
        if (delimiter is not null)
        {
            xml.Element("Delimiter", E(delimiter));
        }

        if (url)
        {
            xml.Element("EncodingType", "url");
        }

        xml.Element("IsTruncated", page.IsTruncated);
        foreach (var item in page.Objects)
        {
            xml.Open(kind == ListKind.Versions ? "Version" : "Contents").Element("Key", E(item.Key));
            if (kind == ListKind.Versions)
            {
                xml.Element("VersionId", "null").Element("IsLatest", true);
            }

            xml.Element("LastModified", item.LastModified)
                .Element("ETag", Quote(item.ETag))
                .Element("Size", item.Size)
                .Element("StorageClass", "STANDARD")
                .Close();
        }

        foreach (var commonPrefix in page.CommonPrefixes)
        {
            xml.Open("CommonPrefixes").Element("Prefix", E(commonPrefix)).Close();
        }

        await WriteXmlAsync(context, xml);
        return null;
    }

    private async Task<S3Error?> DeleteObjectsAsync(HttpContext context, string bucket, S3AuthResult auth, CancellationToken ct)
    {
        var (document, error) = await ReadXmlBodyAsync(context, auth, ct);
        if (error is not null)
        {
            return error;
        }

        var root = document!.Root!;
        var quiet = string.Equals(Child(root, "Quiet")?.Value, "true", StringComparison.OrdinalIgnoreCase);
        var keys = root.Elements().Where(e => e.Name.LocalName == "Object").Select(e => Child(e, "Key")?.Value).ToList();
        if (keys.Count is 0 or > 1000 || keys.Any(k => k is null))
        {
            return S3Errors.MalformedXml.WithMessage("DeleteObjects takes 1 to 1000 <Object><Key>...</Key></Object> elements.");
        }

        var head = await backend.HeadBucketAsync(bucket, ct);
        if (!head.IsOk)
        {
            return ToError(head.Status);
        }

        using var xml = new S3Xml("DeleteResult");
        foreach (var key in keys)
        {
            var keyError = S3Names.ValidateKey(key!);
            var status = keyError is null ? await backend.DeleteObjectAsync(bucket, key!, ct) : S3Status.Ok;
            var itemError = keyError ?? (status == S3Status.Ok ? null : ToError(status));
            if (itemError is not null)
            {
                xml.Open("Error").Element("Key", key).Element("Code", itemError.Code).Element("Message", itemError.Message).Close();
            }
            else if (!quiet)
            {
                xml.Open("Deleted").Element("Key", key).Close();
            }
        }

        await WriteXmlAsync(context, xml);
        return null;
    }

    private async Task<S3Error?> PutObjectAsync(HttpContext context, S3Target target, S3AuthResult auth, CancellationToken ct)
    {
        var (condition, conditionError) = await WriteConditionAsync(context.Request, target, ct);
        if (conditionError is not null)
        {
            return conditionError;
        }

        var body = PrepareBody(context.Request, auth);
        var put = await backend.PutObjectAsync(target.Bucket!, target.Key!, body, ReadWrite(context.Request), condition, ct);
        if (!put.IsOk)
        {
            return ToError(put.Status);
        }

        context.Response.Headers.ETag = Quote(put.Value!.ETag);
        return null;
    }

    private async Task<S3Error?> GetObjectAsync(HttpContext context, S3Target target, bool headOnly, CancellationToken ct)
    {
        var opened = await backend.GetObjectAsync(target.Bucket!, target.Key!, ct);
        if (!opened.IsOk)
        {
            return ToError(opened.Status);
        }

        await using var content = opened.Value!;
        var info = content.Info;
        var response = context.Response;
        switch (ReadConditions.Evaluate(context.Request.Headers, info))
        {
            case StatusCodes.Status412PreconditionFailed:
                return S3Errors.PreconditionFailed;
            case StatusCodes.Status304NotModified:
                // A cache validation, not an error: no body, and the validators the client compares next time.
                response.StatusCode = StatusCodes.Status304NotModified;
                response.Headers.ETag = Quote(info.ETag);
                response.Headers.LastModified = info.LastModified.ToString("R", CultureInfo.InvariantCulture);
                return null;
        }

        var (offset, length, rangeError) = ResolveRange(context.Request.Headers.Range.ToString(), info.Size);
        if (rangeError is not null)
        {
            response.Headers.ContentRange = $"bytes */{info.Size}";
            return rangeError;
        }

        response.Headers.ETag = Quote(info.ETag);
        response.Headers.LastModified = info.LastModified.ToString("R", CultureInfo.InvariantCulture);
        response.Headers.AcceptRanges = "bytes";
        response.ContentType = info.ContentType;
        foreach (var (name, value) in info.Metadata)
        {
            response.Headers[MetaPrefix + name] = value;
        }

        if (offset is not null)
        {
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.Headers.ContentRange = $"bytes {offset}-{offset + length - 1}/{info.Size}";
        }

        response.ContentLength = length;
        if (headOnly || length == 0)
        {
            return null;
        }

        content.Data.Position = offset ?? 0;
        await CopyAsync(content.Data, response.Body, length, ct);
        return null;
    }

    private async Task<S3Error?> DeleteObjectAsync(HttpContext context, S3Target target, CancellationToken ct)
    {
        var status = await backend.DeleteObjectAsync(target.Bucket!, target.Key!, ct);
        if (status != S3Status.Ok)
        {
            return ToError(status);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return null;
    }

    private async Task<S3Error?> CopyObjectAsync(HttpContext context, S3Target target, CancellationToken ct)
    {
        var source = context.Request.Headers["x-amz-copy-source"].ToString();
        var question = source.IndexOf('?', StringComparison.Ordinal);
        if (question >= 0)
        {
            source = source[..question];
        }

        source = Uri.UnescapeDataString(source).TrimStart('/');
        var slash = source.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == source.Length - 1)
        {
            return S3Errors.InvalidArgument.WithMessage("x-amz-copy-source must be BUCKET/KEY.");
        }

        var (sourceBucket, sourceKey) = (source[..slash], source[(slash + 1)..]);
        if ((S3Names.ValidateBucket(sourceBucket) ?? S3Names.ValidateKey(sourceKey)) is { } error)
        {
            return error;
        }

        var (condition, conditionError) = await WriteConditionAsync(context.Request, target, ct);
        if (conditionError is not null)
        {
            return conditionError;
        }

        var replace = string.Equals(context.Request.Headers["x-amz-metadata-directive"].ToString(), "REPLACE", StringComparison.OrdinalIgnoreCase)
            ? ReadWrite(context.Request)
            : null;
        var copied = await backend.CopyObjectAsync(sourceBucket, sourceKey, target.Bucket!, target.Key!, replace, condition, ct);
        if (!copied.IsOk)
        {
            return ToError(copied.Status);
        }

        using var xml = new S3Xml("CopyObjectResult");
        xml.Element("ETag", Quote(copied.Value!.ETag)).Element("LastModified", copied.Value.LastModified);
        await WriteXmlAsync(context, xml);
        return null;
    }

    private async Task<S3Error?> CreateUploadAsync(HttpContext context, S3Target target, CancellationToken ct)
    {
        var created = await backend.CreateMultipartUploadAsync(target.Bucket!, target.Key!, ReadWrite(context.Request), ct);
        if (!created.IsOk)
        {
            return ToError(created.Status);
        }

        using var xml = new S3Xml("InitiateMultipartUploadResult");
        xml.Element("Bucket", target.Bucket).Element("Key", target.Key).Element("UploadId", created.Value);
        await WriteXmlAsync(context, xml);
        return null;
    }

    private async Task<S3Error?> UploadPartAsync(HttpContext context, S3Target target, string uploadId, S3AuthResult auth, CancellationToken ct)
    {
        if (!int.TryParse(target.Get("partNumber"), NumberStyles.None, CultureInfo.InvariantCulture, out var partNumber) || partNumber is < 1 or > MaxParts)
        {
            return S3Errors.InvalidArgument.WithMessage("Part number must be an integer between 1 and 10000, inclusive");
        }

        var part = await backend.UploadPartAsync(target.Bucket!, target.Key!, uploadId, partNumber, PrepareBody(context.Request, auth), ct);
        if (!part.IsOk)
        {
            return ToError(part.Status);
        }

        context.Response.Headers.ETag = Quote(part.Value!.ETag);
        return null;
    }

    private async Task<S3Error?> ListPartsAsync(HttpContext context, S3Target target, string uploadId, CancellationToken ct)
    {
        var listed = await backend.ListPartsAsync(target.Bucket!, target.Key!, uploadId, ct);
        if (!listed.IsOk)
        {
            return ToError(listed.Status);
        }

        _ = int.TryParse(target.Get("part-number-marker"), NumberStyles.None, CultureInfo.InvariantCulture, out var marker);
        var maxParts = int.TryParse(target.Get("max-parts"), NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? Math.Min(m, 1000) : 1000;
        var after = listed.Value!.Where(p => p.PartNumber > marker).ToList();
        var page = after.Take(maxParts).ToList();
        var truncated = after.Count > page.Count;

        using var xml = new S3Xml("ListPartsResult");
        xml.Element("Bucket", target.Bucket).Element("Key", target.Key).Element("UploadId", uploadId)
            .Element("PartNumberMarker", marker)
            .Element("NextPartNumberMarker", page.Count > 0 ? page[^1].PartNumber : marker)
            .Element("MaxParts", maxParts)
            .Element("IsTruncated", truncated)
            .Element("StorageClass", "STANDARD");
        foreach (var part in page)
        {
            xml.Open("Part").Element("PartNumber", part.PartNumber).Element("LastModified", part.LastModified)
                .Element("ETag", Quote(part.ETag)).Element("Size", part.Size).Close();
        }

        await WriteXmlAsync(context, xml);
        return null;
    }

    private async Task<S3Error?> ListUploadsAsync(HttpContext context, S3Target target, CancellationToken ct)
    {
        var prefix = target.Get("prefix") ?? string.Empty;
        var listed = await backend.ListMultipartUploadsAsync(target.Bucket!, prefix, ct);
        if (!listed.IsOk)
        {
            return ToError(listed.Status);
        }

        using var xml = new S3Xml("ListMultipartUploadsResult");
        xml.Element("Bucket", target.Bucket).Element("KeyMarker", string.Empty).Element("UploadIdMarker", string.Empty)
            .Element("Prefix", prefix).Element("MaxUploads", 1000).Element("IsTruncated", false);
        foreach (var upload in listed.Value!.Take(1000))
        {
            xml.Open("Upload").Element("Key", upload.Key).Element("UploadId", upload.UploadId)
                .Element("StorageClass", "STANDARD").Element("Initiated", upload.Initiated).Close();
        }

        await WriteXmlAsync(context, xml);
        return null;
    }

    private async Task<S3Error?> AbortAsync(HttpContext context, S3Target target, string uploadId, CancellationToken ct)
    {
        var status = await backend.AbortMultipartUploadAsync(target.Bucket!, target.Key!, uploadId, ct);
        if (status != S3Status.Ok)
        {
            return ToError(status);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return null;
    }

    private async Task<S3Error?> CompleteAsync(HttpContext context, S3Target target, string uploadId, S3AuthResult auth, CancellationToken ct)
    {
        var (document, error) = await ReadXmlBodyAsync(context, auth, ct);
        if (error is not null)
        {
            return error;
        }

        var requested = new List<(int Number, string ETag)>();
        foreach (var part in document!.Root!.Elements().Where(e => e.Name.LocalName == "Part"))
        {
            if (!int.TryParse(Child(part, "PartNumber")?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || Child(part, "ETag") is not { } etag)
            {
                return S3Errors.MalformedXml;
            }

            requested.Add((number, etag.Value.Trim().Trim('"')));
        }

        if (requested.Count == 0)
        {
            return S3Errors.MalformedXml.WithMessage("CompleteMultipartUpload needs at least one part.");
        }

        for (var i = 1; i < requested.Count; i++)
        {
            if (requested[i].Number <= requested[i - 1].Number)
            {
                return S3Errors.InvalidPartOrder;
            }
        }

        var listed = await backend.ListPartsAsync(target.Bucket!, target.Key!, uploadId, ct);
        if (!listed.IsOk)
        {
            return ToError(listed.Status);
        }

        var uploaded = listed.Value!.ToDictionary(p => p.PartNumber);
        using var md5s = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        for (var i = 0; i < requested.Count; i++)
        {
            var (number, etag) = requested[i];
            if (!uploaded.TryGetValue(number, out var part) || !string.Equals(part.ETag, etag, StringComparison.OrdinalIgnoreCase))
            {
                return S3Errors.InvalidPart.WithMessage($"Part {number} was not uploaded, or its ETag does not match.");
            }

            if (i < requested.Count - 1 && part.Size < options.MinPartSize)
            {
                return S3Errors.EntityTooSmall.WithMessage($"Part {number} is {part.Size} bytes; every part but the last must be at least {options.MinPartSize}.");
            }

            md5s.AppendData(Convert.FromHexString(part.ETag));
        }

        var (condition, conditionError) = await WriteConditionAsync(context.Request, target, ct);
        if (conditionError is not null)
        {
            return conditionError;
        }

        var objectETag = $"{Convert.ToHexStringLower(md5s.GetHashAndReset())}-{requested.Count}";
        var completed = await backend.CompleteMultipartUploadAsync(target.Bucket!, target.Key!, uploadId, requested.Select(p => p.Number).ToList(), objectETag, condition, ct);
        if (!completed.IsOk)
        {
            return ToError(completed.Status);
        }

        using var xml = new S3Xml("CompleteMultipartUploadResult");
        xml.Element("Location", $"/{target.Bucket}/{SigV4.UriEncode(target.Key!, keepSlash: true)}")
            .Element("Bucket", target.Bucket).Element("Key", target.Key).Element("ETag", Quote(objectETag));
        await WriteXmlAsync(context, xml);
        return null;
    }

    /// <summary>
    /// The request body as the object's bytes: aws-chunked decoded (chunk signatures checked), and the
    /// signed payload hash, Content-MD5 and any x-amz-checksum-* header checked at end of stream.
    /// </summary>
    private static Stream PrepareBody(HttpRequest request, S3AuthResult auth)
    {
        var payload = auth.PayloadHash;
        var checks = new List<BodyCheck>();
        Stream body = request.Body;
        if (payload.StartsWith("STREAMING-", StringComparison.Ordinal))
        {
            if (payload is not (SigV4.StreamingSigned or SigV4.StreamingSignedTrailer or SigV4.StreamingUnsignedTrailer))
            {
                throw new S3ProtocolException(S3Errors.NotImplemented.WithMessage($"x-amz-content-sha256 {payload} is not supported."));
            }

            long? decoded = long.TryParse(request.Headers["x-amz-decoded-content-length"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var d) ? d : null;
            var trailer = payload.EndsWith("-TRAILER", StringComparison.Ordinal) ? request.Headers["x-amz-trailer"].ToString() : null;
            body = new AwsChunkedStream(body, auth.Signing, string.IsNullOrEmpty(trailer) ? null : trailer, decoded);
        }
        else if (payload != SigV4.UnsignedPayload)
        {
            if (payload.Length != 64 || !payload.All(char.IsAsciiHexDigit))
            {
                throw new S3ProtocolException(S3Errors.InvalidArgument.WithMessage("x-amz-content-sha256 must be a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING- value."));
            }

            checks.Add(BodyCheck.Sha256Hex(payload));
        }

        var contentMd5 = request.Headers["Content-MD5"].ToString();
        if (contentMd5.Length > 0)
        {
            if (!IsBase64OfLength(contentMd5, 16))
            {
                throw new S3ProtocolException(S3Errors.InvalidDigest);
            }

            checks.Add(BodyCheck.ContentMd5(contentMd5));
        }

        foreach (var (name, value) in request.Headers)
        {
            if (name.StartsWith("x-amz-checksum-", StringComparison.OrdinalIgnoreCase)
                && !name.Equals("x-amz-checksum-algorithm", StringComparison.OrdinalIgnoreCase)
                && !name.Equals("x-amz-checksum-type", StringComparison.OrdinalIgnoreCase))
            {
                var checksum = S3Checksum.ForHeader(name)
                    ?? throw new S3ProtocolException(S3Errors.InvalidArgument.WithMessage($"Unsupported checksum header {name}."));
                checks.Add(BodyCheck.Checksum(checksum, value.ToString()));
            }
        }

        return checks.Count == 0 ? body : new VerifyingStream(body, checks);
    }

    /// <summary>
    /// The If-Match / If-None-Match of a write, checked once against the object as it is now so that a
    /// write bound to fail does not stream its body first; the backend checks again when the write takes
    /// effect, which is the check that counts. If-None-Match accepts only <c>*</c> on writes, as in S3.
    /// </summary>
    private async Task<(S3WriteCondition? Condition, S3Error? Error)> WriteConditionAsync(HttpRequest request, S3Target target, CancellationToken ct)
    {
        var ifMatch = request.Headers.IfMatch.ToString();
        var ifNoneMatch = request.Headers.IfNoneMatch.ToString();
        if (ifMatch.Length == 0 && ifNoneMatch.Length == 0)
        {
            return (null, null);
        }

        if (ifNoneMatch.Length > 0 && ifNoneMatch.Trim() != "*")
        {
            return (null, S3Errors.NotImplemented.WithMessage($"If-None-Match on a write accepts only '*' (create only if the key does not exist), not '{ifNoneMatch}'."));
        }

        IReadOnlyList<string>? tags = null;
        if (ifMatch.Length > 0)
        {
            tags = ReadConditions.EntityTags(ifMatch).Where(t => !t.Weak).Select(t => t.Value).ToList();
            if (tags.Count == 0 && !ReadConditions.EntityTags(ifMatch).Any())
            {
                return (null, S3Errors.InvalidArgument.WithMessage($"If-Match '{ifMatch}' names no ETag."));
            }
        }

        var condition = new S3WriteCondition(tags, ifNoneMatch.Length > 0);
        var head = await backend.HeadObjectAsync(target.Bucket!, target.Key!, ct);
        if (head.Status is S3Status.Ok or S3Status.NoSuchKey && condition.Check(head.Value?.ETag) is var status and not S3Status.Ok)
        {
            return (null, ToError(status));
        }

        return (condition, null);
    }

    private static S3ObjectWrite ReadWrite(HttpRequest request)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in request.Headers)
        {
            if (name.StartsWith(MetaPrefix, StringComparison.OrdinalIgnoreCase))
            {
                metadata[name[MetaPrefix.Length..].ToLowerInvariant()] = value.ToString();
            }
        }

        var contentType = request.ContentType;
        return new S3ObjectWrite(string.IsNullOrEmpty(contentType) ? S3ObjectWrite.Default.ContentType : contentType, metadata);
    }

    /// <summary>
    /// Range: bytes=a-b | a- | -n, resolved against the object's size. Syntax S3 does not understand
    /// (several ranges, other units) is ignored and the whole object served, as S3 does; a range that
    /// starts past the end is InvalidRange (416).
    /// </summary>
    internal static (long? Offset, long Length, S3Error? Error) ResolveRange(string header, long size)
    {
        const string Unit = "bytes=";
        if (!header.StartsWith(Unit, StringComparison.Ordinal) || header.Contains(',', StringComparison.Ordinal))
        {
            return (null, size, null);
        }

        var spec = header[Unit.Length..].Trim();
        var dash = spec.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            return (null, size, null);
        }

        var (first, last) = (spec[..dash], spec[(dash + 1)..]);
        if (first.Length == 0)
        {
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var suffix))
            {
                return (null, size, null);
            }

            if (suffix == 0 || size == 0)
            {
                return (null, 0, S3Errors.InvalidRange);
            }

            var length = Math.Min(suffix, size);
            return (size - length, length, null);
        }

        if (!long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            return (null, size, null);
        }

        long end = size - 1;
        if (last.Length > 0)
        {
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out end) || end < start)
            {
                return (null, size, null);
            }
        }

        if (start >= size)
        {
            return (null, 0, S3Errors.InvalidRange);
        }

        end = Math.Min(end, size - 1);
        return (start, end - start + 1, null);
    }

    private static async Task<(XDocument? Document, S3Error? Error)> ReadXmlBodyAsync(HttpContext context, S3AuthResult auth, CancellationToken ct)
    {
        var body = PrepareBody(context.Request, auth);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxXmlBody)
            {
                return (null, S3Errors.MalformedXml.WithMessage("The XML body is too large."));
            }
        }

        try
        {
            buffer.Position = 0;
            var document = XDocument.Load(buffer);
            return document.Root is null ? (null, S3Errors.MalformedXml) : (document, null);
        }
        catch (XmlException)
        {
            return (null, S3Errors.MalformedXml);
        }
    }

    private static XElement? Child(XElement element, string localName) =>
        element.Elements().FirstOrDefault(e => e.Name.LocalName == localName);

    private static bool IsBase64OfLength(string text, int bytes)
    {
        Span<byte> buffer = stackalloc byte[64];
        return Convert.TryFromBase64String(text, buffer, out var written) && written == bytes;
    }

    private static async Task CopyAsync(Stream source, Stream destination, long length, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            while (length > 0)
            {
                var read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(CopyBufferSize, length)), ct);
                if (read == 0)
                {
                    throw new IOException("The object ended before its recorded size.");
                }

                await destination.WriteAsync(buffer.AsMemory(0, read), ct);
                length -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task DrainAsync(Stream body, CancellationToken ct)
    {
        var buffer = new byte[4096];
        while (await body.ReadAsync(buffer, ct) > 0)
        {
        }
    }

    private static string Quote(string etag) => "\"" + etag + "\"";

    private static S3Error ToError(S3Status status) => status switch
    {
        S3Status.NoSuchBucket => S3Errors.NoSuchBucket,
        S3Status.NoSuchKey => S3Errors.NoSuchKey,
        S3Status.NoSuchUpload => S3Errors.NoSuchUpload,
        S3Status.BucketAlreadyExists => S3Errors.BucketAlreadyOwnedByYou,
        S3Status.BucketNotEmpty => S3Errors.BucketNotEmpty,
        S3Status.PreconditionFailed => S3Errors.PreconditionFailed,
        _ => S3Errors.InternalError,
    };

    private static Task WriteXmlAsync(HttpContext context, S3Xml xml) => WriteXmlAsync(context, xml.ToArray());

    private static Task WriteXmlAsync(HttpContext context, S3XmlText text) => WriteXmlAsync(context, text.ToArray());

    private static async Task WriteXmlAsync(HttpContext context, byte[] bytes)
    {
        context.Response.ContentType = "application/xml";
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
    }

    private async Task WriteErrorAsync(HttpContext context, S3Error error, S3Target target, string requestId)
    {
        S3Log.Refused(logger, requestId, error.Code, error.Message);
        var response = context.Response;
        if (response.HasStarted)
        {
            // Headers are gone; the only honest signal left is a broken connection.
            context.Abort();
            return;
        }

        response.StatusCode = error.HttpStatus;
        response.Headers.ETag = default;
        response.Headers.ContentRange = error.Code == S3Errors.InvalidRange.Code ? response.Headers.ContentRange : default;
        if (context.Request.Method == "HEAD")
        {
            return;
        }

        using var xml = new S3Xml("Error", withNamespace: false);
        xml.Element("Code", error.Code).Element("Message", error.Message).Element("Resource", target.Path).Element("RequestId", requestId);
        await WriteXmlAsync(context, xml);
    }
}

/// <summary>The LocationConstraint document, whose content is text rather than elements.</summary>
internal readonly record struct S3XmlText(string Region)
{
    public byte[] ToArray() => System.Text.Encoding.UTF8.GetBytes(
        $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><LocationConstraint xmlns=\"{S3Xml.Namespace}\">{System.Security.SecurityElement.Escape(Region)}</LocationConstraint>");
}

/// <summary>A request target, path-style: the decoded path, bucket, key, and decoded query pairs in order.</summary>
internal sealed record S3Target(string Path, string? Bucket, string? Key, IReadOnlyList<KeyValuePair<string, string>> Query)
{
    private static readonly HashSet<string> KnownParameters =
    [
        "prefix", "delimiter", "max-keys", "marker", "list-type", "continuation-token", "start-after", "encoding-type", "fetch-owner",
        "key-marker", "version-id-marker", "versionId", "uploadId", "partNumber", "part-number-marker", "max-parts", "max-uploads",
        "upload-id-marker", "response-content-type", "response-content-disposition", "response-cache-control", "response-expires",
        "response-content-encoding", "response-content-language", "x-id",
    ];

    public bool Has(string name) => Query.Any(p => p.Key == name);

    public string? Get(string name) => Query.FirstOrDefault(p => p.Key == name).Value;

    /// <summary>True when the query names a subresource this endpoint does not serve (?acl, ?tagging ...), so it is not mistaken for a plain GET or PUT.</summary>
    public bool HasOtherSubresource() =>
        Query.Any(p => !KnownParameters.Contains(p.Key) && !p.Key.StartsWith("X-Amz-", StringComparison.Ordinal));

    public static S3Target Parse(HttpContext context)
    {
        // The raw target, not Request.Path: keys may hold escaped '/' and '%', which must be decoded exactly once.
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw))
        {
            raw = context.Request.PathBase + context.Request.Path + context.Request.QueryString;
        }
        else if (!raw.StartsWith('/') && Uri.TryCreate(raw, UriKind.Absolute, out var absolute))
        {
            raw = absolute.PathAndQuery;
        }

        var question = raw.IndexOf('?', StringComparison.Ordinal);
        var rawPath = question < 0 ? raw : raw[..question];
        var rawQuery = question < 0 ? string.Empty : raw[(question + 1)..];
        var path = Uri.UnescapeDataString(rawPath);
        var query = new List<KeyValuePair<string, string>>();
        foreach (var pair in rawQuery.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            query.Add(eq < 0
                ? new(Uri.UnescapeDataString(pair), string.Empty)
                : new(Uri.UnescapeDataString(pair[..eq]), Uri.UnescapeDataString(pair[(eq + 1)..])));
        }

        var trimmed = path.TrimStart('/');
        if (trimmed.Length == 0)
        {
            return new S3Target(path, null, null, query);
        }

        var slash = trimmed.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || slash == trimmed.Length - 1)
        {
            return new S3Target(path, slash < 0 ? trimmed : trimmed[..slash], null, query);
        }

        return new S3Target(path, trimmed[..slash], trimmed[(slash + 1)..], query);
    }
}
