"""Demo data: realistic French organisations of each brand, with long real-life names.

Kept apart from the command so that tests can load the same data.
"""

from .models import Brand, LocationType

DEMO_PASSWORD = "demo-rdv-2026"
DEMO_SUPERUSER = "admin"

# organisation, brand, time zone, places, services with their motifs, agents
ORGANISATIONS = [
    {
        "name": "Mairie de Lyon 3e arrondissement",
        "brand": Brand.SERVICE_PUBLIC,
        "places": [("Mairie du 3e", "215 rue Duguesclin, 69003 Lyon", "")],
        "services": {
            ("Titres d'identité", "Titres d'identité"): [
                ("Demande ou renouvellement de carte nationale d'identité et de passeport (prise d'empreintes)", 20, LocationType.ON_SITE, True,
                 "Apportez votre pré-demande ANTS, une photo d'identité de moins de 6 mois, un justificatif de domicile et votre ancien titre."),
                ("Retrait de carte nationale d'identité ou de passeport", 10, LocationType.ON_SITE, True,
                 "Présentez-vous avec le récépissé de dépôt et votre ancien titre."),
            ],
            ("État civil", "État civil"): [
                ("Dépôt de dossier de mariage ou de PACS", 45, LocationType.ON_SITE, False, "Apportez les pièces listées sur le site de la mairie."),
            ],
        },
        "agents": [("camille.martin", "Camille", "Martin"), ("julien.bernard", "Julien", "Bernard")],
    },
    {
        "name": "Préfecture de la Guadeloupe",
        "brand": Brand.SERVICE_PUBLIC,
        "time_zone": "America/Guadeloupe",
        "places": [("Sous-préfecture de Pointe-à-Pitre", "Rue Lardenoy, 97110 Pointe-à-Pitre", "America/Guadeloupe")],
        "services": {
            ("Accueil des étrangers – titres de séjour", "Titres de séjour"): [
                ("Remise de titre de séjour et vérification des pièces justificatives originales", 15, LocationType.ON_SITE, True,
                 "Munissez-vous de votre convocation, de votre passeport et du timbre fiscal."),
            ],
        },
        "agents": [("marie.lancelot", "Marie", "Lancelot")],
    },
    {
        # Overseas, set up as the admin's help texts suggest: the zone on the place only, the
        # organisation's left empty. Its phone appointments are still told in Cayenne time.
        "name": "Collectivité territoriale de Guyane — Pôle des solidarités de Cayenne",
        "brand": Brand.SOLIDARITES,
        "places": [("Centre médico-social de Cayenne", "1 rue Léopold Héder, 97300 Cayenne", "America/Cayenne")],
        "services": {
            ("Action sociale de proximité", "Action sociale"): [
                ("Entretien téléphonique avec une travailleuse sociale (droits, logement, budget)", 30, LocationType.PHONE, True,
                 "La travailleuse sociale vous appellera au numéro indiqué."),
                ("Accueil social sur rendez-vous", 30, LocationType.ON_SITE, True, "Apportez une pièce d'identité."),
            ],
        },
        "agents": [("lina.sainte-rose", "Lina", "Sainte-Rose")],
    },
    {
        "name": "Département du Pas-de-Calais — Maison du Département Solidarité de l'Arrageois",
        "brand": Brand.SOLIDARITES,
        "places": [("MDS de l'Arrageois", "2 rue de la Paix, 62000 Arras", "")],
        "services": {
            ("Service social départemental", "Service social"): [
                ("Premier rendez-vous avec une assistante sociale pour l'accès aux droits et l'accompagnement budgétaire", 45, LocationType.ON_SITE, True, ""),
                ("Entretien téléphonique avec une assistante sociale", 30, LocationType.PHONE, True, "L'assistante sociale vous appellera au numéro indiqué."),
                ("Visite à domicile de l'assistante sociale", 60, LocationType.HOME, False, ""),
            ],
            ("Protection maternelle et infantile (PMI)", "PMI"): [
                ("Consultation de puéricultrice — suivi du développement de l'enfant de moins de 6 ans", 30, LocationType.ON_SITE, True,
                 "Apportez le carnet de santé de l'enfant."),
            ],
        },
        "agents": [("sophie.lefebvre", "Sophie", "Lefebvre"), ("nadia.benali", "Nadia", "Benali")],
    },
    {
        "name": "Département de La Réunion — Territoire d'action sociale Sud",
        "brand": Brand.SOLIDARITES,
        "time_zone": "Indian/Reunion",
        "places": [("Antenne sociale de Saint-Pierre", "12 rue Archambaud, 97410 Saint-Pierre", "Indian/Reunion")],
        "services": {
            ("Insertion — revenu de solidarité active (RSA)", "RSA"): [
                ("Rendez-vous d'orientation et de signature du contrat d'engagements réciproques des bénéficiaires du RSA", 60, LocationType.ON_SITE, True,
                 "Apportez votre attestation de droits CAF et une pièce d'identité."),
                ("Point d'étape RSA en visioconférence", 30, LocationType.VISIO, True, "Le lien de connexion vous sera envoyé la veille."),
            ],
        },
        "agents": [("jean-paul.payet", "Jean-Paul", "Payet")],
    },
    {
        "name": "France services de Sedan",
        "brand": Brand.AIDE_NUMERIQUE,
        "places": [("France services Sedan", "15 place d'Armes, 08200 Sedan", "")],
        "services": {
            ("Médiation numérique", "Médiation numérique"): [
                ("Accompagnement dans les démarches administratives en ligne (CAF, impôts, France Travail, ANTS, Ameli)", 60, LocationType.ON_SITE, True,
                 "Apportez vos identifiants, votre téléphone et les courriers reçus."),
                ("Création et sécurisation d'une adresse e-mail et d'un compte FranceConnect", 45, LocationType.ON_SITE, True, ""),
            ],
        },
        "agents": [("lucas.dubois", "Lucas", "Dubois")],
    },
    {
        "name": "Médiathèque des Ursulines de Quimper — conseillers numériques",
        "brand": Brand.AIDE_NUMERIQUE,
        "places": [("Médiathèque des Ursulines", "Esplanade Julien Gracq, 29000 Quimper", "")],
        "services": {
            ("Conseillers numériques France Services", "Conseillers numériques"): [
                ("Initiation à l'utilisation d'un ordinateur, d'une tablette ou d'un smartphone", 60, LocationType.ON_SITE, True, ""),
                ("Aide à distance à l'installation d'une application de santé (Mon espace santé)", 30, LocationType.PHONE, True, ""),
            ],
        },
        "agents": [("elodie.le-goff", "Élodie", "Le Goff")],
    },
]

FIRST_NAMES = ["Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Zoé", "Lucas", "Hugo", "Nathan", "Louis",
               "Gabriel", "Arthur", "Jules", "Adam", "Mohamed", "Fatou", "Aïcha", "Noé", "Maëlys", "Anaïs", "Joël", "Hélène"]
LAST_NAMES = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
              "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "Fontaine", "Payet", "Hoarau", "N'Diaye", "Le Goff", "Benali"]
