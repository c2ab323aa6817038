namespace Stratum.S3;

/// <summary>An S3 error as the protocol names it: the code clients switch on, a message and the HTTP status.</summary>
public sealed record S3Error(string Code, string Message, int HttpStatus)
{
    public S3Error WithMessage(string message) => this with { Message = message };
}

/// <summary>The S3 error codes this endpoint returns, with AWS's HTTP status for each.</summary>
public static class S3Errors
{
    public static readonly S3Error AccessDenied = new("AccessDenied", "Access Denied", 403);
    public static readonly S3Error InvalidAccessKeyId = new("InvalidAccessKeyId", "The AWS access key Id you provided does not exist in our records.", 403);
    public static readonly S3Error SignatureDoesNotMatch = new("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", 403);
    public static readonly S3Error RequestTimeTooSkewed = new("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", 403);
    public static readonly S3Error AuthorizationHeaderMalformed = new("AuthorizationHeaderMalformed", "The authorization header is malformed.", 400);
    public static readonly S3Error NoSuchBucket = new("NoSuchBucket", "The specified bucket does not exist", 404);
    public static readonly S3Error NoSuchKey = new("NoSuchKey", "The specified key does not exist.", 404);
    public static readonly S3Error NoSuchUpload = new("NoSuchUpload", "The specified multipart upload does not exist. The upload ID might not be valid, or the upload might have been aborted or completed.", 404);
    public static readonly S3Error InvalidPart = new("InvalidPart", "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.", 400);
    public static readonly S3Error InvalidPartOrder = new("InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.", 400);
    public static readonly S3Error EntityTooSmall = new("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", 400);
    public static readonly S3Error PreconditionFailed = new("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412);
    public static readonly S3Error InvalidRange = new("InvalidRange", "The requested range is not satisfiable", 416);
    public static readonly S3Error BucketAlreadyOwnedByYou = new("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", 409);
    public static readonly S3Error BucketNotEmpty = new("BucketNotEmpty", "The bucket you tried to delete is not empty", 409);
    public static readonly S3Error InvalidArgument = new("InvalidArgument", "Invalid Argument", 400);
    public static readonly S3Error InvalidBucketName = new("InvalidBucketName", "The specified bucket is not valid.", 400);
    public static readonly S3Error KeyTooLongError = new("KeyTooLongError", "Your key is too long", 400);
    public static readonly S3Error BadDigest = new("BadDigest", "The Content-MD5 you specified did not match what we received.", 400);
    public static readonly S3Error XAmzContentSha256Mismatch = new("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", 400);
    public static readonly S3Error InvalidDigest = new("InvalidDigest", "The Content-MD5 you specified is not valid.", 400);
    public static readonly S3Error IncompleteBody = new("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.", 400);
    public static readonly S3Error MalformedXml = new("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.", 400);
    public static readonly S3Error MethodNotAllowed = new("MethodNotAllowed", "The specified method is not allowed against this resource.", 405);
    public static readonly S3Error NotImplemented = new("NotImplemented", "A header or query you provided implies functionality that is not implemented.", 501);
    public static readonly S3Error InternalError = new("InternalError", "We encountered an internal error. Please try again.", 500);
}

/// <summary>
/// Carries an S3 error out of places that cannot return a value: a request body stream that finds a bad
/// chunk signature or checksum at its end must fail the read so the backend never commits the write.
/// The request handler turns it into error XML in one place.
/// </summary>
public sealed class S3ProtocolException(S3Error error) : Exception(error.Message)
{
    public S3Error Error { get; } = error;
}
