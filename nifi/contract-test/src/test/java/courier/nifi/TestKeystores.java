package courier.nifi;

import org.apache.nifi.security.cert.StandardPrincipalFormatter;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.List;

/** The Java side of the test certificates that post_cases.py writes with trustme. */
final class TestKeystores {
    private TestKeystores() {
    }

    /** A PKCS12 truststore holding the CA certificates (PKCS12 files written by Python carry no Java trust attribute). */
    static void truststore(final List<Path> caPems, final Path truststore, final String password) throws Exception {
        final KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        for (int i = 0; i < caPems.size(); i++) {
            store.setCertificateEntry("trusted-ca-" + i, certificate(caPems.get(i)));
        }
        try (OutputStream out = Files.newOutputStream(truststore)) {
            store.store(out, password.toCharArray());
        }
    }

    /** The subject as HandleHttpRequest writes it to http.subject.dn (NiFi's own formatter). */
    static String subjectAsNiFiPrintsIt(final Path certificatePem) throws Exception {
        return StandardPrincipalFormatter.getInstance().getSubject(certificate(certificatePem));
    }

    /** The issuer as HandleHttpRequest writes it to http.issuer.dn (NiFi's own formatter). */
    static String issuerAsNiFiPrintsIt(final Path certificatePem) throws Exception {
        return StandardPrincipalFormatter.getInstance().getIssuer(certificate(certificatePem));
    }

    private static X509Certificate certificate(final Path pem) throws Exception {
        try (InputStream in = Files.newInputStream(pem)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }
}
