<?php
/*
 * sabre/dav (Debian's php-sabre-dav) over a folder, as the router script of `php -S`: the WebDAV part of a
 * Nextcloud-like server, at Nextcloud's path /remote.php/dav/files/USER/, started by bench/lib/sabre.mjs.
 *
 * Configured by environment variables only (php -S passes no arguments to a router script):
 *   SABRE_DIR       the folder served
 *   SABRE_BASE_URI  the URL path it is served at, with a trailing slash (/remote.php/dav/files/syncd/)
 *   SABRE_USER, SABRE_PASSWORD  the one account (basic auth); the password is compared as bytes (UTF-8)
 *   SABRE_LOG       the request log: one line "METHOD PATH STATUS - CONTENT_LENGTH" per request, PATH as
 *                   the client sent it (still percent-encoded), so a line is one line whatever the name
 *
 * Debian's sabre/dav is 1.8, whose API differs from today's 4.x: no BasicCallBack (an AbstractBasic
 * subclass instead), and Server::exec() reads PHP's superglobals itself.
 */

require_once 'Sabre/autoload.php';

// Everything that is logged happens in the shutdown function, so that it runs whatever Sabre did
// (including exit paths and fatal errors): the status is PHP's, i.e. what was sent.
register_shutdown_function(function () {
    $log = getenv('SABRE_LOG');
    if ($log === false || $log === '') return;
    $uri = $_SERVER['REQUEST_URI'] ?? '/';
    $path = strtok($uri, '?');
    $status = http_response_code();
    $length = $_SERVER['CONTENT_LENGTH'] ?? ($_SERVER['HTTP_CONTENT_LENGTH'] ?? '-');
    $line = sprintf("%s %s %d - %s\n", $_SERVER['REQUEST_METHOD'] ?? '-', $path === false ? '/' : $path, $status === false ? 0 : $status, $length === '' ? '-' : $length);
    // O_APPEND with one write per line: lines of the concurrent workers do not interleave.
    file_put_contents($log, $line, FILE_APPEND);
});

class SyncdBasicAuth extends Sabre\DAV\Auth\Backend\AbstractBasic
{
    protected function validateUserPass($username, $password)
    {
        // hash_equals: constant time, as a real server would compare.
        return hash_equals((string) getenv('SABRE_USER'), (string) $username)
            && hash_equals((string) getenv('SABRE_PASSWORD'), (string) $password);
    }
}

/*
 * FSExt (ETags, quota; what Sabre's own examples serve a folder with) keeps dead properties in a file
 * `.sabredav` per folder, and writes it on every rename, even with no property to keep: every folder where
 * a file was MOVEd would hold one, which no Nextcloud has (it keeps properties in its database) and which
 * tests that look at the served folder would see. These subclasses write it only when there is a property
 * to keep (after a PROPPATCH); everything else is FSExt's own behaviour.
 */
trait SyncdResourceData
{
    protected function putResourceData(array $newData)
    {
        if (empty($newData['properties']) && !file_exists($this->getResourceInfoPath())) return;
        parent::putResourceData($newData);
    }
}

class SyncdFile extends Sabre\DAV\FSExt\File
{
    use SyncdResourceData;
}

class SyncdDirectory extends Sabre\DAV\FSExt\Directory
{
    use SyncdResourceData;

    public function getChild($name)
    {
        parent::getChild($name); // its checks: NotFound, and Forbidden for . and ..
        $path = $this->path . '/' . $name;
        return is_dir($path) ? new SyncdDirectory($path) : new SyncdFile($path);
    }
}

$root = new SyncdDirectory(getenv('SABRE_DIR'));
$server = new Sabre\DAV\Server($root);
$server->setBaseUri(getenv('SABRE_BASE_URI'));
$server->addPlugin(new Sabre\DAV\Auth\Plugin(new SyncdBasicAuth(), 'syncd'));
$server->exec();
